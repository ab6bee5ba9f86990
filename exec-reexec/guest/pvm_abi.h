/* The PolkaVM guest ABI as polkavm-linker 0.37 parses it, written for this guest.
 *
 * An import is a naked function whose body is the `0x0000000b` marker word followed by a
 * pointer to its metadata; the linker turns it into an `ecalli`. An export is a record in the
 * allocated `.polkavm_exports` section (it must be allocated: lld drops the relocations of a
 * non-alloc section, and the linker then finds no pointer to the metadata). Argument and result
 * register counts are written explicitly: on rv64 every integer or pointer takes one register. */
#ifndef DIVERGE_PVM_ABI_H
#define DIVERGE_PVM_ABI_H

struct pvm_metadata {
    unsigned char version;
    unsigned int flags;
    unsigned int symbol_len;
    const char *symbol;
    unsigned char input_regs;
    unsigned char output_regs;
} __attribute__((packed));

#define PVM_METADATA(var, name, nin, nout)                                                       \
    static struct pvm_metadata var __attribute__((section(".polkavm_metadata"), used)) = {      \
        1, 0, sizeof(#name) - 1, #name, nin, nout};

#define PVM_IMPORT(ret, name, nin, nout, ...)                                                    \
    PVM_METADATA(name##__import_meta, name, nin, nout)                                          \
    static ret __attribute__((naked, used, noinline)) name(__VA_ARGS__) {                       \
        __asm__(".word 0x0000000b\n"                                                            \
                ".quad %[meta]\n"                                                               \
                "ret\n"                                                                         \
                :                                                                               \
                : [meta] "i"(&name##__import_meta)                                              \
                : "memory");                                                                    \
    }

#define PVM_EXPORT(name, nin, nout)                                                              \
    PVM_METADATA(name##__export_meta, name, nin, nout)                                          \
    static void __attribute__((naked, used)) name##__export_record(void) {                      \
        __asm__(".pushsection .polkavm_exports,\"a\",@progbits\n"                               \
                ".byte 1\n"                                                                     \
                ".quad %[meta]\n"                                                               \
                ".quad %[func]\n"                                                               \
                ".popsection\n"                                                                 \
                :                                                                               \
                : [meta] "i"(&name##__export_meta), [func] "i"(name)                            \
                : "memory");                                                                    \
    }

#endif
