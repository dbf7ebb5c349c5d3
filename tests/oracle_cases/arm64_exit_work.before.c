/*
 * Seed case for the gcc oracle: arch/arm64/kernel/ptrace.c syscall exit path
 * before "[PATCH v16 11/18] arm64: ptrace: Align syscall exit work semantics
 * with generic entry" (a plausible self-contained rendering, arm64 TIF bits).
 * syscall_exit_work() always runs rseq_syscall() and audit_syscall_exit().
 */
#include <linux/audit.h>
#include <linux/entry-common.h>
#include <asm/syscall.h>

#define TIF_SYSCALL_TRACE	8	/* syscall trace active */
#define TIF_SYSCALL_AUDIT	9	/* syscall auditing */
#define TIF_SYSCALL_TRACEPOINT	10	/* syscall tracepoint for ftrace */
#define TIF_SECCOMP		11	/* syscall secure computing */
#define TIF_SYSCALL_EMU		12	/* syscall emulation active */
#define TIF_SINGLESTEP		21

#define _TIF_SYSCALL_TRACE	(1 << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_AUDIT	(1 << TIF_SYSCALL_AUDIT)
#define _TIF_SYSCALL_TRACEPOINT	(1 << TIF_SYSCALL_TRACEPOINT)
#define _TIF_SECCOMP		(1 << TIF_SECCOMP)
#define _TIF_SYSCALL_EMU	(1 << TIF_SYSCALL_EMU)
#define _TIF_SINGLESTEP		(1 << TIF_SINGLESTEP)

void rseq_syscall(struct pt_regs *regs);
void audit_syscall_exit(struct pt_regs *regs);
void trace_sys_exit(struct pt_regs *regs, long ret);
long syscall_get_return_value(struct task_struct *task, struct pt_regs *regs);
void report_syscall_exit(struct pt_regs *regs);

static inline bool report_single_step(unsigned long flags)
{
	return flags & _TIF_SINGLESTEP;
}

static void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
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

static __always_inline void syscall_exit_to_user_mode_work(struct pt_regs *regs)
{
	unsigned long flags = read_thread_flags();

	syscall_exit_work(regs, flags);
}
