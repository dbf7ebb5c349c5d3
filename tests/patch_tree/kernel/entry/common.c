// SPDX-License-Identifier: GPL-2.0
/*
 * Test tree for `equiv patch`: the generic syscall exit work, trimmed from
 * kernel/entry/common.c of Linux v6.12 (architectures on generic entry).
 */
#include <linux/entry-common.h>
#include <trace/events/syscalls.h>

static inline bool report_single_step(unsigned long work)
{
	if (work & SYSCALL_WORK_SYSCALL_EMU)
		return false;

	return work & SYSCALL_WORK_SYSCALL_TRACE;
}

static void syscall_exit_work(struct pt_regs *regs, unsigned long work)
{
	bool step;

	audit_syscall_exit(regs);

	if (work & SYSCALL_WORK_SYSCALL_TRACEPOINT)
		trace_sys_exit(regs, syscall_get_return_value(current, regs));

	step = report_single_step(work);
	if (step || work & SYSCALL_WORK_SYSCALL_TRACE)
		ptrace_report_syscall_exit(regs, step);
}

void syscall_exit_to_user_mode_work(struct pt_regs *regs, unsigned long work)
{
	rseq_syscall(regs);

	if (unlikely(work & SYSCALL_WORK_EXIT))
		syscall_exit_work(regs, work);
}
