/*
 * Model: ptrace
 * Follows: include/linux/ptrace.h and arch/arm64/kernel/ptrace.c, Linux v6.12
 * Invariant: ptrace_report_syscall_exit() reports a single step when step is nonzero and a syscall-exit stop otherwise; report_syscall_exit() passes step = TIF_SINGLESTEP
 *
 * ptrace_report_syscall_exit(regs, step) in include/linux/ptrace.h calls
 * user_single_step_report(regs) when step is nonzero and otherwise
 * ptrace_report_syscall(PTRACE_EVENTMSG_SYSCALL_EXIT), the syscall-exit
 * stop (PTRACE_EVENTMSG_SYSCALL_EXIT is 2 in include/uapi/linux/ptrace.h).
 * The model keeps that structure and leaves both reports opaque: whether
 * the task is traced, the SIGTRAP and the tracer's reply are abstracted
 * away, so each report is one observable call.
 *
 * report_syscall_exit(regs) is the exit half of arm64's v6.12
 * report_syscall(regs, PTRACE_SYSCALL_EXIT); later kernels split
 * report_syscall() into report_syscall_entry()/report_syscall_exit() with
 * the same exit logic, and that is the name patches use.  It overwrites a
 * scratch register (x7, or r12 for compat tasks) with PTRACE_SYSCALL_EXIT
 * (1) so the tracer can tell exit from entry, and restores it: after the
 * stop without TIF_SINGLESTEP, before the report with TIF_SINGLESTEP (a
 * pseudo-step, since the tracer may have rewound the state).  The register
 * index depends on the task's ABI, so the save and the restore are kept as
 * the observable calls ptrace_save_reg(regs, 1) and ptrace_restore_reg(regs)
 * in their kernel order rather than as stores to regs->regs[].
 */

void ptrace_report_syscall_exit(struct pt_regs *regs, int step)
{
	if (step)
		__equiv_emit("user_single_step_report", regs);
	else
		__equiv_emit("ptrace_report_syscall", 2 /* PTRACE_EVENTMSG_SYSCALL_EXIT */);
}

void report_syscall_exit(struct pt_regs *regs)
{
	__equiv_emit("ptrace_save_reg", regs, 1 /* PTRACE_SYSCALL_EXIT */);
	if (!test_thread_flag(TIF_SINGLESTEP)) {
		ptrace_report_syscall_exit(regs, 0);
		__equiv_emit("ptrace_restore_reg", regs);
	} else {
		__equiv_emit("ptrace_restore_reg", regs);
		ptrace_report_syscall_exit(regs, 1);
	}
}
