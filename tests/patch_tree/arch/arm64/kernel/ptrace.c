// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test tree for `equiv patch`: the syscall trace hooks, trimmed from
 * arch/arm64/kernel/ptrace.c of Linux v6.12.
 */
#include <linux/audit.h>
#include <linux/ptrace.h>
#include <linux/seccomp.h>
#include <linux/rseq.h>

#include <asm/syscall.h>
#include <asm/thread_info.h>
#include <trace/events/syscalls.h>

#define NO_SYSCALL (-1)

static inline bool report_single_step(unsigned long flags)
{
	if (flags & _TIF_SYSCALL_EMU)
		return false;

	return flags & _TIF_SINGLESTEP;
}

int syscall_trace_enter(struct pt_regs *regs, unsigned long flags)
{
	if (flags & (_TIF_SYSCALL_EMU | _TIF_SYSCALL_TRACE)) {
		report_syscall_entry(regs);
		if (flags & _TIF_SYSCALL_EMU)
			return NO_SYSCALL;
	}

	if (secure_computing() == -1)
		return NO_SYSCALL;

	if (flags & _TIF_SYSCALL_TRACEPOINT)
		trace_sys_enter(regs, regs->syscallno);

	audit_syscall_entry(regs->syscallno, regs->orig_x0);
	return regs->syscallno;
}

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
	bool step;

	rseq_syscall(regs);

	audit_syscall_exit(regs);

	if (flags & _TIF_SYSCALL_TRACEPOINT)
		trace_sys_exit(regs, syscall_get_return_value(current, regs));

	step = report_single_step(flags);
	if (step || flags & _TIF_SYSCALL_TRACE)
		report_syscall_exit(regs);
}
