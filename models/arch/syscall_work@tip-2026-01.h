/*
 * Generic-entry syscall work bits for equiv, for --arch ...@tip-2026-01.
 *
 * Version: tip sched/core at dd0a04606937, January 2026
 *
 * Follows tip at dd0a04606937 "rseq: Implement syscall entry work for time
 * slice extensions": enum syscall_work_bit and the SYSCALL_WORK_* masks of
 * include/linux/thread_info.h, and SYSCALL_WORK_ENTER/SYSCALL_WORK_EXIT of
 * include/linux/entry-common.h.  Written for equiv; only the numbers come
 * from the kernel.  It is the v6.12 word (models/arch/syscall_work.h) with
 * one bit more, SYSCALL_WORK_SYSCALL_RSEQ_SLICE (7), which that commit adds
 * and handles on syscall entry.  ARCH_SYSCALL_WORK_ENTER/EXIT default to 0
 * and x86 does not set them, so they are left out of the two masks.
 */
#ifndef __EQUIV_ARCH_SYSCALL_WORK_TIP_2026_01_H
#define __EQUIV_ARCH_SYSCALL_WORK_TIP_2026_01_H

#define SYSCALL_WORK_BIT_SECCOMP		0
#define SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT	1
#define SYSCALL_WORK_BIT_SYSCALL_TRACE		2
#define SYSCALL_WORK_BIT_SYSCALL_EMU		3
#define SYSCALL_WORK_BIT_SYSCALL_AUDIT		4
#define SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH	5
#define SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP	6
#define SYSCALL_WORK_BIT_SYSCALL_RSEQ_SLICE	7

#define SYSCALL_WORK_SECCOMP			(1UL << SYSCALL_WORK_BIT_SECCOMP)
#define SYSCALL_WORK_SYSCALL_TRACEPOINT		(1UL << SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT)
#define SYSCALL_WORK_SYSCALL_TRACE		(1UL << SYSCALL_WORK_BIT_SYSCALL_TRACE)
#define SYSCALL_WORK_SYSCALL_EMU		(1UL << SYSCALL_WORK_BIT_SYSCALL_EMU)
#define SYSCALL_WORK_SYSCALL_AUDIT		(1UL << SYSCALL_WORK_BIT_SYSCALL_AUDIT)
#define SYSCALL_WORK_SYSCALL_USER_DISPATCH	(1UL << SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH)
#define SYSCALL_WORK_SYSCALL_EXIT_TRAP		(1UL << SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP)
#define SYSCALL_WORK_SYSCALL_RSEQ_SLICE		(1UL << SYSCALL_WORK_BIT_SYSCALL_RSEQ_SLICE)

/* Work syscall_trace_enter() handles. */
#define SYSCALL_WORK_ENTER	(SYSCALL_WORK_SECCOMP | \
				 SYSCALL_WORK_SYSCALL_TRACEPOINT | \
				 SYSCALL_WORK_SYSCALL_TRACE | \
				 SYSCALL_WORK_SYSCALL_EMU | \
				 SYSCALL_WORK_SYSCALL_AUDIT | \
				 SYSCALL_WORK_SYSCALL_USER_DISPATCH | \
				 SYSCALL_WORK_SYSCALL_RSEQ_SLICE)

/* Work syscall_exit_work() handles. */
#define SYSCALL_WORK_EXIT	(SYSCALL_WORK_SYSCALL_TRACEPOINT | \
				 SYSCALL_WORK_SYSCALL_TRACE | \
				 SYSCALL_WORK_SYSCALL_AUDIT | \
				 SYSCALL_WORK_SYSCALL_USER_DISPATCH | \
				 SYSCALL_WORK_SYSCALL_EXIT_TRAP)

#endif /* __EQUIV_ARCH_SYSCALL_WORK_TIP_2026_01_H */
