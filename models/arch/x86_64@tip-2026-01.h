/*
 * x86_64 thread-flag layout for equiv, on the generic TIF bits.
 *
 * Version: tip sched/core at dd0a04606937, January 2026
 *
 * Follows the x86 thread flags of tip at dd0a04606937 "rseq: Implement
 * syscall entry work for time slice extensions" (sched/core, January 2026):
 * since da3f033a9fbf "x86: Use generic TIF bits" x86 takes bits 0-15 from
 * include/asm-generic/thread_info_tif.h (29589343488e "asm-generic: Provide
 * generic TIF infrastructure", with the HAVE_TIF_NEED_RESCHED_LAZY and
 * HAVE_TIF_POLLING_NRFLAG bits x86 asks for, and TIF_RSEQ from 32034df66b5f
 * "rseq: Switch to TIF_RSEQ if supported") and keeps its own bits from 16 in
 * arch/x86/include/asm/thread_info.h.  Written for equiv; only the numbers
 * come from the kernel.  Select it with --arch x86_64@tip-2026-01.
 *
 * The one-bit masks only: the __switch_to() masks (_TIF_WORK_CTXSW*) are
 * left out, so a fragment that uses them without defining them is an error,
 * never a guess.  The kernel spells the masks BIT(TIF_X); here they are
 * (1UL << TIF_X), the same value.
 */
#ifndef __EQUIV_ARCH_X86_64_TIP_2026_01_H
#define __EQUIV_ARCH_X86_64_TIP_2026_01_H

/* Generic bits (include/asm-generic/thread_info_tif.h). */
#define TIF_NOTIFY_RESUME	0	/* callback before returning to user */
#define TIF_SIGPENDING		1	/* signal pending */
#define TIF_NOTIFY_SIGNAL	2	/* signal notifications exist */
#define TIF_MEMDIE		3	/* terminating due to the OOM killer */
#define TIF_NEED_RESCHED	4	/* rescheduling necessary */
#define TIF_NEED_RESCHED_LAZY	5	/* lazy rescheduling needed */
#define TIF_POLLING_NRFLAG	6	/* idle is polling for TIF_NEED_RESCHED */
#define TIF_USER_RETURN_NOTIFY	7	/* notify kernel of user-space return */
#define TIF_UPROBE		8	/* breakpointed or single-stepping */
#define TIF_PATCH_PENDING	9	/* pending live-patching update */
#define TIF_RSEQ		11	/* run the rseq fast path */

/* x86's own bits, from 16 (arch/x86/include/asm/thread_info.h). */
#define TIF_SSBD		16	/* speculative store bypass disable */
#define TIF_SPEC_IB		17	/* indirect branch speculation mitigation */
#define TIF_SPEC_L1D_FLUSH	18	/* flush L1D on mm switches */
#define TIF_NEED_FPU_LOAD	19	/* load FPU on return to user space */
#define TIF_NOCPUID		20	/* CPUID not accessible in user space */
#define TIF_NOTSC		21	/* TSC not accessible in user space */
#define TIF_IO_BITMAP		22	/* uses an I/O bitmap */
#define TIF_SPEC_FORCE_UPDATE	23	/* force speculation MSR update on switch */
#define TIF_FORCED_TF		24	/* TF in eflags set artificially */
#define TIF_SINGLESTEP		25	/* re-enable single-step on user return */
#define TIF_BLOCKSTEP		26	/* wants DEBUGCTLMSR_BTF */
#define TIF_LAZY_MMU_UPDATES	27	/* updating the MMU lazily */
#define TIF_ADDR32		28	/* 32-bit address space on 64 bits */

#define _TIF_NOTIFY_RESUME	(1UL << TIF_NOTIFY_RESUME)
#define _TIF_SIGPENDING		(1UL << TIF_SIGPENDING)
#define _TIF_NOTIFY_SIGNAL	(1UL << TIF_NOTIFY_SIGNAL)
#define _TIF_MEMDIE		(1UL << TIF_MEMDIE)
#define _TIF_NEED_RESCHED	(1UL << TIF_NEED_RESCHED)
#define _TIF_NEED_RESCHED_LAZY	(1UL << TIF_NEED_RESCHED_LAZY)
#define _TIF_POLLING_NRFLAG	(1UL << TIF_POLLING_NRFLAG)
#define _TIF_USER_RETURN_NOTIFY	(1UL << TIF_USER_RETURN_NOTIFY)
#define _TIF_UPROBE		(1UL << TIF_UPROBE)
#define _TIF_PATCH_PENDING	(1UL << TIF_PATCH_PENDING)
#define _TIF_RSEQ		(1UL << TIF_RSEQ)
#define _TIF_SSBD		(1UL << TIF_SSBD)
#define _TIF_SPEC_IB		(1UL << TIF_SPEC_IB)
#define _TIF_SPEC_L1D_FLUSH	(1UL << TIF_SPEC_L1D_FLUSH)
#define _TIF_NEED_FPU_LOAD	(1UL << TIF_NEED_FPU_LOAD)
#define _TIF_NOCPUID		(1UL << TIF_NOCPUID)
#define _TIF_NOTSC		(1UL << TIF_NOTSC)
#define _TIF_IO_BITMAP		(1UL << TIF_IO_BITMAP)
#define _TIF_SPEC_FORCE_UPDATE	(1UL << TIF_SPEC_FORCE_UPDATE)
#define _TIF_FORCED_TF		(1UL << TIF_FORCED_TF)
#define _TIF_SINGLESTEP		(1UL << TIF_SINGLESTEP)
#define _TIF_BLOCKSTEP		(1UL << TIF_BLOCKSTEP)
#define _TIF_LAZY_MMU_UPDATES	(1UL << TIF_LAZY_MMU_UPDATES)
#define _TIF_ADDR32		(1UL << TIF_ADDR32)

#endif /* __EQUIV_ARCH_X86_64_TIP_2026_01_H */
