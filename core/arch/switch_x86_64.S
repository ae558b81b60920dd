/*
 * core/arch/switch_x86_64.S — the fiber context switch for x86-64 (SysV).
 *
 * void axle__ctx_switch(void **save_sp, void *load_sp);
 *   Pushes the callee-saved registers (rbp rbx r12-r15) and the SSE/x87
 *   control words on the current stack, stores the stack pointer in
 *   *save_sp, loads load_sp and pops the same frame from there. Caller-saved
 *   registers need no saving: this is an ordinary call for the compiler.
 *
 * A new fiber's stack is laid out by axle__ctx_init (fiber.c) as if it had
 * switched out: the "return address" is axle__ctx_trampoline, r12 holds the
 * entry function and r13 its argument.
 */
#if defined(__x86_64__)
    .text
    .globl  axle__ctx_switch
    .hidden axle__ctx_switch
    .type   axle__ctx_switch, @function
    .p2align 4
axle__ctx_switch:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   axle__ctx_switch, .-axle__ctx_switch

    .globl  axle__ctx_trampoline
    .hidden axle__ctx_trampoline
    .type   axle__ctx_trampoline, @function
    .p2align 4
axle__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi
    callq   *%r12
    ud2                     /* the entry never returns */
    .cfi_endproc
    .size   axle__ctx_trampoline, .-axle__ctx_trampoline
#endif
    .section .note.GNU-stack, "", @progbits
