/*
 * Generic-entry syscall work bits for equiv.
 *
 * Follows Linux v6.12: enum syscall_work_bit and the SYSCALL_WORK_* masks
 * of include/linux/thread_info.h, and SYSCALL_WORK_ENTER/SYSCALL_WORK_EXIT
 * of include/linux/entry-common.h.  Written for equiv; only the numbers
 * come from the kernel.
 *
 * These bits live in thread_info->syscall_work, a word of their own, not in
 * the TIF flag word.  The kernel defines the bits as enum constants; here
 * they are macros with the same values so that reports can name them.
 * ARCH_SYSCALL_WORK_ENTER/EXIT default to 0 in the kernel and neither arm64
 * nor x86 sets them in v6.12, so they are left out of the two masks.
 * SYSCALL_WORK_EXIT has no SECCOMP and no SYSCALL_EMU (entry-only work),
 * and adds SYSCALL_EXIT_TRAP (the single-step report on exit).
 */
#ifndef __EQUIV_ARCH_SYSCALL_WORK_H
#define __EQUIV_ARCH_SYSCALL_WORK_H

#define SYSCALL_WORK_BIT_SECCOMP		0
#define SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT	1
#define SYSCALL_WORK_BIT_SYSCALL_TRACE		2
#define SYSCALL_WORK_BIT_SYSCALL_EMU		3
#define SYSCALL_WORK_BIT_SYSCALL_AUDIT		4
#define SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH	5
#define SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP	6

#define SYSCALL_WORK_SECCOMP			(1UL << SYSCALL_WORK_BIT_SECCOMP)
#define SYSCALL_WORK_SYSCALL_TRACEPOINT		(1UL << SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT)
#define SYSCALL_WORK_SYSCALL_TRACE		(1UL << SYSCALL_WORK_BIT_SYSCALL_TRACE)
#define SYSCALL_WORK_SYSCALL_EMU		(1UL << SYSCALL_WORK_BIT_SYSCALL_EMU)
#define SYSCALL_WORK_SYSCALL_AUDIT		(1UL << SYSCALL_WORK_BIT_SYSCALL_AUDIT)
#define SYSCALL_WORK_SYSCALL_USER_DISPATCH	(1UL << SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH)
#define SYSCALL_WORK_SYSCALL_EXIT_TRAP		(1UL << SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP)

/* Work syscall_trace_enter() handles. */
#define SYSCALL_WORK_ENTER	(SYSCALL_WORK_SECCOMP | \
				 SYSCALL_WORK_SYSCALL_TRACEPOINT | \
				 SYSCALL_WORK_SYSCALL_TRACE | \
				 SYSCALL_WORK_SYSCALL_EMU | \
				 SYSCALL_WORK_SYSCALL_AUDIT | \
				 SYSCALL_WORK_SYSCALL_USER_DISPATCH)

/* Work syscall_exit_work() handles. */
#define SYSCALL_WORK_EXIT	(SYSCALL_WORK_SYSCALL_TRACEPOINT | \
				 SYSCALL_WORK_SYSCALL_TRACE | \
				 SYSCALL_WORK_SYSCALL_AUDIT | \
				 SYSCALL_WORK_SYSCALL_USER_DISPATCH | \
				 SYSCALL_WORK_SYSCALL_EXIT_TRAP)

#endif /* __EQUIV_ARCH_SYSCALL_WORK_H */
