/*
 * arm64 thread-flag layout for equiv.
 *
 * Follows arch/arm64/include/asm/thread_info.h of Linux v6.12: every TIF_*
 * bit number of that file, its one-bit _TIF_* masks, and its two multi-bit
 * masks _TIF_WORK_MASK and _TIF_SYSCALL_WORK.  Written for equiv; only the
 * numbers come from the kernel.
 *
 * In v6.12 arm64 does not use the generic entry code, so the syscall work
 * bits (TIF_SYSCALL_TRACE, TIF_SYSCALL_AUDIT, TIF_SYSCALL_TRACEPOINT,
 * TIF_SECCOMP, TIF_SYSCALL_EMU) still live in the thread-flag word.
 *
 * The kernel only defines _TIF_* masks for some bits; the ones below are
 * exactly those.  The kernel spells them (1 << TIF_X), an int; here they are
 * (1UL << TIF_X), unsigned long like the flag word.  Every bit is below 31,
 * so both spellings give the same value once converted to the flag word.
 */
#ifndef __EQUIV_ARCH_ARM64_H
#define __EQUIV_ARCH_ARM64_H

#define TIF_SIGPENDING		0	/* signal pending */
#define TIF_NEED_RESCHED	1	/* rescheduling necessary */
#define TIF_NOTIFY_RESUME	2	/* callback before returning to user */
#define TIF_FOREIGN_FPSTATE	3	/* CPU's FP state is not current's */
#define TIF_UPROBE		4	/* uprobe breakpoint or singlestep */
#define TIF_MTE_ASYNC_FAULT	5	/* MTE asynchronous tag check fault */
#define TIF_NOTIFY_SIGNAL	6	/* signal notifications exist */
#define TIF_SYSCALL_TRACE	8	/* syscall trace active */
#define TIF_SYSCALL_AUDIT	9	/* syscall auditing */
#define TIF_SYSCALL_TRACEPOINT	10	/* syscall tracepoint for ftrace */
#define TIF_SECCOMP		11	/* syscall secure computing */
#define TIF_SYSCALL_EMU		12	/* syscall emulation active */
#define TIF_MEMDIE		18	/* terminating due to the OOM killer */
#define TIF_FREEZE		19
#define TIF_RESTORE_SIGMASK	20
#define TIF_SINGLESTEP		21
#define TIF_32BIT		22	/* 32-bit process */
#define TIF_SVE			23	/* SVE in use */
#define TIF_SVE_VL_INHERIT	24	/* inherit the SVE vector length across exec */
#define TIF_SSBD		25	/* wants SSB mitigation */
#define TIF_TAGGED_ADDR		26	/* allow tagged user addresses */
#define TIF_SME			27	/* SME in use */
#define TIF_SME_VL_INHERIT	28	/* inherit the SME vector length across exec */
#define TIF_KERNEL_FPSTATE	29	/* task is in a kernel-mode FPSIMD section */
#define TIF_TSC_SIGSEGV		30	/* SIGSEGV on counter-timer access */

#define _TIF_SIGPENDING		(1UL << TIF_SIGPENDING)
#define _TIF_NEED_RESCHED	(1UL << TIF_NEED_RESCHED)
#define _TIF_NOTIFY_RESUME	(1UL << TIF_NOTIFY_RESUME)
#define _TIF_FOREIGN_FPSTATE	(1UL << TIF_FOREIGN_FPSTATE)
#define _TIF_SYSCALL_TRACE	(1UL << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_AUDIT	(1UL << TIF_SYSCALL_AUDIT)
#define _TIF_SYSCALL_TRACEPOINT	(1UL << TIF_SYSCALL_TRACEPOINT)
#define _TIF_SECCOMP		(1UL << TIF_SECCOMP)
#define _TIF_SYSCALL_EMU	(1UL << TIF_SYSCALL_EMU)
#define _TIF_UPROBE		(1UL << TIF_UPROBE)
#define _TIF_SINGLESTEP		(1UL << TIF_SINGLESTEP)
#define _TIF_32BIT		(1UL << TIF_32BIT)
#define _TIF_SVE		(1UL << TIF_SVE)
#define _TIF_MTE_ASYNC_FAULT	(1UL << TIF_MTE_ASYNC_FAULT)
#define _TIF_NOTIFY_SIGNAL	(1UL << TIF_NOTIFY_SIGNAL)
#define _TIF_TSC_SIGSEGV	(1UL << TIF_TSC_SIGSEGV)

/* Work to do on the way back to user space. */
#define _TIF_WORK_MASK		(_TIF_NEED_RESCHED | _TIF_SIGPENDING | \
				 _TIF_NOTIFY_RESUME | _TIF_FOREIGN_FPSTATE | \
				 _TIF_UPROBE | _TIF_MTE_ASYNC_FAULT | \
				 _TIF_NOTIFY_SIGNAL)

/* Syscall entry/exit work: both entry-only and exit flags. */
#define _TIF_SYSCALL_WORK	(_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT | \
				 _TIF_SYSCALL_TRACEPOINT | _TIF_SECCOMP | \
				 _TIF_SYSCALL_EMU)

#endif /* __EQUIV_ARCH_ARM64_H */
