/*
 * core/arch/switch_aarch64.S — the fiber context switch for AArch64 (AAPCS64).
 *
 * void axle__ctx_switch(void **save_sp, void *load_sp);
 *   Saves x19-x30, d8-d15 and FPCR in a 176-byte frame on the current
 *   stack, stores sp in *save_sp, loads load_sp and restores the same frame
 *   from there, then returns through the restored x30.
 *
 * A new fiber's frame is laid out by axle__ctx_init (fiber.c): x30 is
 * axle__ctx_trampoline, x19 the entry function, x20 its argument.
 */
#if defined(__aarch64__)
    .text
    .globl  axle__ctx_switch
    .hidden axle__ctx_switch
    .type   axle__ctx_switch, %function
    .p2align 4
axle__ctx_switch:
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    ret
    .size   axle__ctx_switch, .-axle__ctx_switch

    .globl  axle__ctx_trampoline
    .hidden axle__ctx_trampoline
    .type   axle__ctx_trampoline, %function
    .p2align 4
axle__ctx_trampoline:
    mov     x0, x20
    blr     x19
    brk     #0              /* the entry never returns */
    .size   axle__ctx_trampoline, .-axle__ctx_trampoline
#endif
    .section .note.GNU-stack, "", %progbits
