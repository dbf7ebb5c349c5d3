/*
 * Model: audit
 * Follows: include/linux/audit.h and kernel/auditsc.c, Linux v6.12
 * Invariant: audit_syscall_exit() has an effect only when TIF_SYSCALL_AUDIT is set, and no call on the exit path sets or clears TIF_SYSCALL_AUDIT
 * Stable: _TIF_SYSCALL_AUDIT
 *
 * In the kernel, audit_syscall_exit() does its work (__audit_syscall_exit())
 * only when the task has an audit context, audit_context() != NULL.  That
 * context exists exactly while TIF_SYSCALL_AUDIT is set: audit_alloc(), run
 * at fork, either clears the flag (filter says "never audit") or allocates
 * the context and sets the flag together, and fails the fork when it cannot
 * allocate; if audit was never enabled it returns early, and then the parent
 * cannot have had the flag either, because only audit_alloc() sets it.  The
 * context is freed only at task exit, after the last return to user space.
 * So no function called on the syscall exit path sets or clears the flag
 * (only audit_alloc() at fork, and the filter there, touch it): the `Stable:`
 * line keeps that bit of the flag word as it was across every external call.
 * Without CONFIG_AUDITSYSCALL the function is an empty inline and nothing
 * sets the flag, so the same test covers that configuration too.
 *
 * The model replaces the audit_context() test by the flag test and keeps the
 * call itself observable, named audit_syscall_exit(regs).  What the call
 * records (success, return code) is abstracted away.  The model needs
 * TIF_SYSCALL_AUDIT from the fragment or --arch; on generic-entry
 * architectures (x86_64) there is no such bit and the model does not apply.
 */

void audit_syscall_exit(void *pt_regs)
{
	if (test_thread_flag(TIF_SYSCALL_AUDIT))
		__equiv_emit("audit_syscall_exit", pt_regs);
}
