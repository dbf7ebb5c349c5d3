/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Test tree for `equiv patch`: the arm64 syscall exit helper, trimmed from
 * arch/arm64/include/asm/syscall.h before "[PATCH v16 11/18]".
 */
#ifndef __ASM_SYSCALL_H
#define __ASM_SYSCALL_H

#include <uapi/linux/audit.h>
#include <linux/compat.h>
#include <linux/err.h>
#include <asm/thread_info.h>

void syscall_exit_work(struct pt_regs *regs, unsigned long flags);

static inline bool has_syscall_work(unsigned long flags)
{
	return unlikely(flags & _TIF_SYSCALL_WORK);
}

static __always_inline void syscall_exit_to_user_mode_work(struct pt_regs *regs)
{
	unsigned long flags = read_thread_flags();

	syscall_exit_work(regs, flags);
}

#endif	/* __ASM_SYSCALL_H */
