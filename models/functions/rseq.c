/*
 * Model: rseq
 * Follows: include/linux/rseq.h and kernel/rseq.c, Linux v6.12
 * Invariant: rseq_syscall() has an effect only when CONFIG_DEBUG_RSEQ is enabled
 *
 * In the kernel, rseq_syscall() is an out-of-line function only with
 * CONFIG_DEBUG_RSEQ; there it kills the task with SIGSEGV when a system call
 * was issued from inside a restartable-sequence critical section.  Without
 * CONFIG_DEBUG_RSEQ, include/linux/rseq.h defines it as an empty inline.
 *
 * The model keeps the call observable, named rseq_syscall(regs), under the
 * config switch, and does nothing otherwise.  What the debug check reads
 * (the task's rseq area, the instruction pointer) is abstracted away.
 */

void rseq_syscall(struct pt_regs *regs)
{
	if (IS_ENABLED(CONFIG_DEBUG_RSEQ))
		__equiv_emit("rseq_syscall", regs);
}
