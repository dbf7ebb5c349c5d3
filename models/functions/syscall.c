/*
 * Model: syscall
 * Follows: arch/arm64/include/asm/syscall.h and arch/x86/include/asm/syscall.h, Linux v6.12
 * Invariant: syscall_get_return_value() is a pure read of the saved return register, named regs->syscall_return_value
 *
 * syscall_get_return_value(task, regs) reads the return value the system
 * call left in the saved registers: regs->regs[0] on arm64 (sign-extended
 * from 32 bits for compat tasks), regs->ax on x86.  It has no side effect.
 * Since the member differs by architecture, the model reads one member that
 * no kernel struct has, regs->syscall_return_value, which equiv treats as
 * an opaque input of the regs pointer: equal on both sides, re-read as a
 * new value after an external call, like any other member.  This is a
 * named abstraction of the arch's return register; the cost is that a
 * fragment that writes or reads regs->regs[0] (or regs->ax) directly is not
 * connected to it.  The task argument is not used (the compat
 * sign-extension is abstracted away).
 */

long syscall_get_return_value(struct task_struct *task, struct pt_regs *regs)
{
	return regs->syscall_return_value;
}
