/*
 * Model: tracepoint
 * Follows: include/trace/events/syscalls.h, include/trace/syscall.h and kernel/tracepoint.c, Linux v6.12
 * Invariant: trace_sys_enter() and trace_sys_exit() have an effect only when TIF_SYSCALL_TRACEPOINT is set
 *
 * trace_sys_enter(regs, id) and trace_sys_exit(regs, ret) are the sys_enter
 * and sys_exit tracepoints; a tracepoint call does nothing unless its static
 * key is enabled.  Both events are declared with syscall_regfunc() and
 * syscall_unregfunc() as their registration hooks.  When the first of them
 * is enabled, syscall_regfunc() sets SYSCALL_TRACEPOINT (on arm64 v6.12:
 * TIF_SYSCALL_TRACEPOINT) on every thread under tasklist_lock, and
 * tracepoint_add_func() runs that hook before it enables the key; when the
 * last is disabled the key goes off first and syscall_unregfunc() then
 * clears the flag on every thread.  A new task copies the flag from its
 * parent in copy_process() (syscall_tracepoint_update()).  So while either
 * key is on, every task has the flag.
 *
 * The flag is necessary, not sufficient: it is set when only one of the two
 * events is enabled.  The model therefore makes each call observable (by its
 * own name and arguments) whenever the flag is set, and a no-op otherwise.
 * What the probes record is abstracted away.  The model needs
 * TIF_SYSCALL_TRACEPOINT from the fragment or --arch; on generic-entry
 * architectures (x86_64) the bit is SYSCALL_WORK_SYSCALL_TRACEPOINT in
 * thread_info->syscall_work and this model does not apply.
 */

void trace_sys_enter(struct pt_regs *regs, long id)
{
	if (test_thread_flag(TIF_SYSCALL_TRACEPOINT))
		__equiv_emit("trace_sys_enter", regs, id);
}

void trace_sys_exit(struct pt_regs *regs, long ret)
{
	if (test_thread_flag(TIF_SYSCALL_TRACEPOINT))
		__equiv_emit("trace_sys_exit", regs, ret);
}
