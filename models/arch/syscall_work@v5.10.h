/*
 * Generic-entry syscall work bits for equiv, for --arch ...@v5.10.
 *
 * Version: Linux v5.10 as tip had it before 51af3f230639
 *
 * Follows tip just before 51af3f230639 "x86: Reclaim unused x86 TI flags"
 * (v5.11 merge window), after 785dc4eb7fd7 "audit: Migrate to use
 * SYSCALL_WORK flag": enum syscall_work_bit and the SYSCALL_WORK_* masks of
 * include/linux/thread_info.h, and SYSCALL_WORK_ENTER/SYSCALL_WORK_EXIT of
 * include/linux/entry-common.h.  Written for equiv; only the numbers come
 * from the kernel.
 *
 * The v5.10 release has no syscall_work word: the series that added it
 * (3136b93c3fb2 "entry: Expose helpers to migrate TIF to SYSCALL_WORK
 * flags" onwards) moved the five syscall bits over one by one, and this is
 * the state once all five had moved.  SYSCALL_WORK_SYSCALL_USER_DISPATCH and
 * SYSCALL_WORK_SYSCALL_EXIT_TRAP came later (v5.11-rc1 and v5.11), so they
 * are not here, and the two masks do not have them.  ARCH_SYSCALL_WORK_ENTER
 * and ARCH_SYSCALL_WORK_EXIT did not exist yet.
 */
#ifndef __EQUIV_ARCH_SYSCALL_WORK_V5_10_H
#define __EQUIV_ARCH_SYSCALL_WORK_V5_10_H

#define SYSCALL_WORK_BIT_SECCOMP		0
#define SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT	1
#define SYSCALL_WORK_BIT_SYSCALL_TRACE		2
#define SYSCALL_WORK_BIT_SYSCALL_EMU		3
#define SYSCALL_WORK_BIT_SYSCALL_AUDIT		4

#define SYSCALL_WORK_SECCOMP			(1UL << SYSCALL_WORK_BIT_SECCOMP)
#define SYSCALL_WORK_SYSCALL_TRACEPOINT		(1UL << SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT)
#define SYSCALL_WORK_SYSCALL_TRACE		(1UL << SYSCALL_WORK_BIT_SYSCALL_TRACE)
#define SYSCALL_WORK_SYSCALL_EMU		(1UL << SYSCALL_WORK_BIT_SYSCALL_EMU)
#define SYSCALL_WORK_SYSCALL_AUDIT		(1UL << SYSCALL_WORK_BIT_SYSCALL_AUDIT)

/* Work syscall_trace_enter() handles. */
#define SYSCALL_WORK_ENTER	(SYSCALL_WORK_SECCOMP | \
				 SYSCALL_WORK_SYSCALL_TRACEPOINT | \
				 SYSCALL_WORK_SYSCALL_TRACE | \
				 SYSCALL_WORK_SYSCALL_EMU | \
				 SYSCALL_WORK_SYSCALL_AUDIT)

/* Work syscall_exit_work() handles. */
#define SYSCALL_WORK_EXIT	(SYSCALL_WORK_SYSCALL_TRACEPOINT | \
				 SYSCALL_WORK_SYSCALL_TRACE | \
				 SYSCALL_WORK_SYSCALL_AUDIT)

#endif /* __EQUIV_ARCH_SYSCALL_WORK_V5_10_H */
