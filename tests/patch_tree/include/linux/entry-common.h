/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test tree for `equiv patch`: the generic entry work bits, trimmed from
 * include/linux/entry-common.h and include/linux/thread_info.h of Linux v6.12.
 */
#ifndef __LINUX_ENTRYCOMMON_H
#define __LINUX_ENTRYCOMMON_H

#define SYSCALL_WORK_SECCOMP		(1UL << 0)
#define SYSCALL_WORK_SYSCALL_TRACEPOINT	(1UL << 1)
#define SYSCALL_WORK_SYSCALL_TRACE	(1UL << 2)
#define SYSCALL_WORK_SYSCALL_EMU	(1UL << 3)
#define SYSCALL_WORK_SYSCALL_AUDIT	(1UL << 4)

#define SYSCALL_WORK_EXIT	(SYSCALL_WORK_SYSCALL_TRACEPOINT |	\
				 SYSCALL_WORK_SYSCALL_TRACE |		\
				 SYSCALL_WORK_SYSCALL_AUDIT)

#endif
