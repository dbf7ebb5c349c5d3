// SPDX-License-Identifier: GPL-2.0
/*
 * Test tree for `equiv patch`: the caller of the exit helper, trimmed from
 * el0_svc_common() in arch/arm64/kernel/syscall.c of Linux v6.12.
 */
#include <linux/ptrace.h>
#include <asm/syscall.h>
#include <asm/thread_info.h>

#define NO_SYSCALL (-1)

void el0_svc_common(struct pt_regs *regs, int scno)
{
	unsigned long flags = read_thread_flags();

	if (has_syscall_work(flags)) {
		if (syscall_trace_enter(regs, flags) == NO_SYSCALL)
			goto trace_exit;
	}

	invoke_syscall(regs, scno);

trace_exit:
	syscall_exit_to_user_mode_work(regs);
}
