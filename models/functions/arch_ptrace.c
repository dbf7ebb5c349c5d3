/*
 * Model: arch_ptrace
 * Follows: include/linux/entry-common.h after 578b21fd3ab2 "entry: Add arch_ptrace_report_syscall_entry/exit()" (tip core/entry, 2026)
 * Invariant: the architecture does not override arch_ptrace_report_syscall_entry() or arch_ptrace_report_syscall_exit(): each is the generic fallback, ptrace_report_syscall_entry() or ptrace_report_syscall_exit() with the same arguments
 *
 * Since 578b21fd3ab2 the generic syscall entry and exit work call the
 * ptrace reports through arch_ptrace_report_syscall_entry(regs) and
 * arch_ptrace_report_syscall_exit(regs, step).  include/linux/entry-common.h
 * defines both, unless the architecture has defined the name first, as
 * calls of the plain reports: that fallback is what this model states.  It
 * holds for an architecture that keeps the fallback (x86 at that commit);
 * the arm64 generic-entry series defines its own, which this model is not.
 * The plain reports stay as they are (opaque, or the ptrace model).
 */

int ptrace_report_syscall_entry(struct pt_regs *regs);
void ptrace_report_syscall_exit(struct pt_regs *regs, int step);

int arch_ptrace_report_syscall_entry(struct pt_regs *regs)
{
	return ptrace_report_syscall_entry(regs);
}

void arch_ptrace_report_syscall_exit(struct pt_regs *regs, int step)
{
	ptrace_report_syscall_exit(regs, step);
}
