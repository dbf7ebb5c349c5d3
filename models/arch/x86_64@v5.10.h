/*
 * x86_64 thread-flag layout for equiv, before x86 gave up its syscall bits.
 *
 * Version: Linux v5.10 as tip had it before 51af3f230639
 *
 * Follows arch/x86/include/asm/thread_info.h in tip just before commit
 * 51af3f230639 "x86: Reclaim unused x86 TI flags" (blob 0da5d58, v5.11
 * merge window): the TIF_* bit numbers and one-bit _TIF_* masks of that
 * file, and its multi-bit __switch_to() masks.  Written for equiv; only the
 * numbers come from the kernel.  Select it with --arch x86_64@v5.10.
 *
 * This is the layout the generic entry code of Linux v5.9 to the v5.11
 * merge window tests: TIF_SYSCALL_TRACE, TIF_SYSCALL_EMU, TIF_SYSCALL_AUDIT,
 * TIF_SECCOMP and TIF_SYSCALL_TRACEPOINT are still thread flags here (the
 * reclaim moved them to thread_info->syscall_work for good).  It differs from
 * the v5.10 release in two bits, both changed in tip before the reclaim:
 * TIF_IA32 (17) and TIF_X32 (30) are gone (8d71d2bf6efe "x86: Reclaim
 * TIF_IA32 and TIF_X32"), and TIF_NOTIFY_SIGNAL took bit 17 (c8d5ed67936f
 * "x86: Wire up TIF_NOTIFY_SIGNAL").  A name only the v5.10 release has
 * (TIF_IA32, TIF_X32) is therefore undeclared, never given a wrong bit.
 *
 * The kernel spells the masks (1 << TIF_X), an int; here they are
 * (1UL << TIF_X), unsigned long like the flag word.  Every bit is below 31,
 * so both spellings give the same value once converted to the flag word.
 *
 * Two masks depend on the configuration in the kernel; this file takes the
 * x86_64 defconfig choice, CONFIG_SMP=y and CONFIG_X86_IOPL_IOPERM=y
 * (without SMP _TIF_WORK_CTXSW lacks _TIF_SPEC_IB; without IOPL_IOPERM
 * _TIF_WORK_CTXSW_PREV lacks _TIF_IO_BITMAP).
 *
 * The masks of the generic entry code (SYSCALL_ENTER_WORK, SYSCALL_EXIT_WORK,
 * EXIT_TO_USER_MODE_WORK) live in include/linux/entry-common.h, not here.
 */
#ifndef __EQUIV_ARCH_X86_64_V5_10_H
#define __EQUIV_ARCH_X86_64_V5_10_H

#define TIF_SYSCALL_TRACE	0	/* syscall trace active */
#define TIF_NOTIFY_RESUME	1	/* callback before returning to user */
#define TIF_SIGPENDING		2	/* signal pending */
#define TIF_NEED_RESCHED	3	/* rescheduling necessary */
#define TIF_SINGLESTEP		4	/* re-enable single-step on user return */
#define TIF_SSBD		5	/* speculative store bypass disable */
#define TIF_SYSCALL_EMU		6	/* syscall emulation (PTRACE_SYSEMU) */
#define TIF_SYSCALL_AUDIT	7	/* syscall auditing */
#define TIF_SECCOMP		8	/* secure computing */
#define TIF_SPEC_IB		9	/* indirect branch speculation mitigation */
#define TIF_SPEC_FORCE_UPDATE	10	/* force speculation MSR update on switch */
#define TIF_USER_RETURN_NOTIFY	11	/* notify kernel of user-space return */
#define TIF_UPROBE		12	/* breakpointed or single-stepping */
#define TIF_PATCH_PENDING	13	/* pending live-patching update */
#define TIF_NEED_FPU_LOAD	14	/* load FPU on return to user space */
#define TIF_NOCPUID		15	/* CPUID not accessible in user space */
#define TIF_NOTSC		16	/* TSC not accessible in user space */
#define TIF_NOTIFY_SIGNAL	17	/* signal notifications exist */
#define TIF_SLD			18	/* restore split-lock detection on switch */
#define TIF_MEMDIE		20	/* terminating due to the OOM killer */
#define TIF_POLLING_NRFLAG	21	/* idle is polling for TIF_NEED_RESCHED */
#define TIF_IO_BITMAP		22	/* uses an I/O bitmap */
#define TIF_FORCED_TF		24	/* TF in eflags set artificially */
#define TIF_BLOCKSTEP		25	/* wants DEBUGCTLMSR_BTF */
#define TIF_LAZY_MMU_UPDATES	27	/* updating the MMU lazily */
#define TIF_SYSCALL_TRACEPOINT	28	/* syscall tracepoint instrumentation */
#define TIF_ADDR32		29	/* 32-bit address space on 64 bits */

#define _TIF_SYSCALL_TRACE	(1UL << TIF_SYSCALL_TRACE)
#define _TIF_NOTIFY_RESUME	(1UL << TIF_NOTIFY_RESUME)
#define _TIF_SIGPENDING		(1UL << TIF_SIGPENDING)
#define _TIF_NEED_RESCHED	(1UL << TIF_NEED_RESCHED)
#define _TIF_SINGLESTEP		(1UL << TIF_SINGLESTEP)
#define _TIF_SSBD		(1UL << TIF_SSBD)
#define _TIF_SYSCALL_EMU	(1UL << TIF_SYSCALL_EMU)
#define _TIF_SYSCALL_AUDIT	(1UL << TIF_SYSCALL_AUDIT)
#define _TIF_SECCOMP		(1UL << TIF_SECCOMP)
#define _TIF_SPEC_IB		(1UL << TIF_SPEC_IB)
#define _TIF_SPEC_FORCE_UPDATE	(1UL << TIF_SPEC_FORCE_UPDATE)
#define _TIF_USER_RETURN_NOTIFY	(1UL << TIF_USER_RETURN_NOTIFY)
#define _TIF_UPROBE		(1UL << TIF_UPROBE)
#define _TIF_PATCH_PENDING	(1UL << TIF_PATCH_PENDING)
#define _TIF_NEED_FPU_LOAD	(1UL << TIF_NEED_FPU_LOAD)
#define _TIF_NOCPUID		(1UL << TIF_NOCPUID)
#define _TIF_NOTSC		(1UL << TIF_NOTSC)
#define _TIF_NOTIFY_SIGNAL	(1UL << TIF_NOTIFY_SIGNAL)
#define _TIF_SLD		(1UL << TIF_SLD)
#define _TIF_POLLING_NRFLAG	(1UL << TIF_POLLING_NRFLAG)
#define _TIF_IO_BITMAP		(1UL << TIF_IO_BITMAP)
#define _TIF_FORCED_TF		(1UL << TIF_FORCED_TF)
#define _TIF_BLOCKSTEP		(1UL << TIF_BLOCKSTEP)
#define _TIF_LAZY_MMU_UPDATES	(1UL << TIF_LAZY_MMU_UPDATES)
#define _TIF_SYSCALL_TRACEPOINT	(1UL << TIF_SYSCALL_TRACEPOINT)
#define _TIF_ADDR32		(1UL << TIF_ADDR32)

/* Flags __switch_to() checks. */
#define _TIF_WORK_CTXSW_BASE	(_TIF_NOCPUID | _TIF_NOTSC | _TIF_BLOCKSTEP | \
				 _TIF_SSBD | _TIF_SPEC_FORCE_UPDATE | _TIF_SLD)
#define _TIF_WORK_CTXSW		(_TIF_WORK_CTXSW_BASE | _TIF_SPEC_IB)
#define _TIF_WORK_CTXSW_PREV	(_TIF_WORK_CTXSW | _TIF_USER_RETURN_NOTIFY | \
				 _TIF_IO_BITMAP)
#define _TIF_WORK_CTXSW_NEXT	(_TIF_WORK_CTXSW)

#endif /* __EQUIV_ARCH_X86_64_V5_10_H */
