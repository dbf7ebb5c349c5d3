/*
 * equiv prelude: force-included before every input file.
 *
 * It lets kernel-style fragments preprocess and parse with no kernel tree:
 * compiler annotations become nothing, kernel integer typedefs become C
 * types (LP64), and the thread-flag accessors become small C functions over
 * the flag word.  The flag word itself is reached through one intrinsic,
 * __equiv_thread_info(), whose `flags` field *is* the symbolic flag word.
 *
 * Written for equiv; the accessor behaviour follows
 * include/linux/thread_info.h and include/linux/compiler.h of Linux v6.12.
 * A fragment may redefine any of these functions or macros; its own
 * definition then wins (gcc warns about macro redefinitions, equiv does not).
 */
#ifndef __EQUIV_PRELUDE_H
#define __EQUIV_PRELUDE_H

/* ---- compiler annotations that carry no behaviour --------------------- */
#define __attribute__(x)
#define __attribute(x)
#define __extension__
#define __always_inline inline
#define __inline__ inline
#define __inline inline
#define noinline
#define noinstr
#define notrace
#define __must_check
#define __maybe_unused
#define __always_unused
#define __used
#define __visible
#define __cold
#define __hot
#define __pure
#define __init
#define __exit
#define __user
#define __kernel
#define __force
#define __iomem
#define __rcu
#define __percpu
#define __private
#define __weak __equiv_weak	/* equiv.frontend.source: a replaceable definition */
#define __noreturn
#define __noinstr_section(x)
#define __section(x)
#define __aligned(x)
#define __packed
#define __randomize_layout
#define __ro_after_init
#define __read_mostly
#define asmlinkage
#define __restrict
#define __restrict__
#define __volatile__ volatile
#define __signed__ signed
#define __const const
#define fallthrough do { } while (0)
#define EXPORT_SYMBOL(x)
#define EXPORT_SYMBOL_GPL(x)
#define NOKPROBE_SYMBOL(x)

/* ---- expressions ------------------------------------------------------ */
#define likely(x)   (!!(x))
#define unlikely(x) (!!(x))
#define READ_ONCE(x) (x)
#define WRITE_ONCE(x, val) ((x) = (val))
#define BIT(nr)     (1UL << (nr))
#define BIT_ULL(nr) (1ULL << (nr))
#define NULL ((void *)0)
#define true 1
#define false 0
#define BUILD_BUG_ON(cond) ((void)0)
/* IS_ENABLED: the tool's meaning always wins.  An undefined CONFIG_X stays
 * an identifier, which equiv turns into a symbolic config switch; a fragment
 * that defines CONFIG_X pins it. */
#define IS_ENABLED(option) __equiv_is_enabled(option, #option)
#define current get_current()

/* ---- kernel integer types (LP64) -------------------------------------- */
typedef _Bool bool;
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uintptr_t;
typedef long intptr_t;
typedef long long loff_t;
typedef int pid_t;
typedef unsigned int uid_t;
typedef unsigned int gid_t;
typedef unsigned int gfp_t;
typedef unsigned short umode_t;
typedef struct irqentry_state irqentry_state_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long int64_t;

struct pt_regs;
struct task_struct;
struct thread_info;

/* ---- the flag word ---------------------------------------------------- */
struct thread_info *__equiv_thread_info(void);
struct task_struct *__equiv_current(void);

static inline struct thread_info *current_thread_info(void)
{
	return __equiv_thread_info();
}

static inline struct task_struct *get_current(void)
{
	return __equiv_current();
}

static inline unsigned long read_ti_thread_flags(struct thread_info *ti)
{
	return ti->flags;
}

static inline unsigned long read_thread_flags(void)
{
	return current_thread_info()->flags;
}

static inline bool test_ti_thread_flag(struct thread_info *ti, int flag)
{
	return (ti->flags >> flag) & 1UL;
}

static inline bool test_thread_flag(int flag)
{
	return test_ti_thread_flag(current_thread_info(), flag);
}

static inline void set_ti_thread_flag(struct thread_info *ti, int flag)
{
	ti->flags |= 1UL << flag;
}

static inline void clear_ti_thread_flag(struct thread_info *ti, int flag)
{
	ti->flags &= ~(1UL << flag);
}

static inline void update_ti_thread_flag(struct thread_info *ti, int flag, bool value)
{
	if (value)
		set_ti_thread_flag(ti, flag);
	else
		clear_ti_thread_flag(ti, flag);
}

static inline bool test_and_set_ti_thread_flag(struct thread_info *ti, int flag)
{
	bool old = test_ti_thread_flag(ti, flag);

	set_ti_thread_flag(ti, flag);
	return old;
}

static inline bool test_and_clear_ti_thread_flag(struct thread_info *ti, int flag)
{
	bool old = test_ti_thread_flag(ti, flag);

	clear_ti_thread_flag(ti, flag);
	return old;
}

static inline void set_thread_flag(int flag)
{
	set_ti_thread_flag(current_thread_info(), flag);
}

static inline void clear_thread_flag(int flag)
{
	clear_ti_thread_flag(current_thread_info(), flag);
}

static inline void update_thread_flag(int flag, bool value)
{
	update_ti_thread_flag(current_thread_info(), flag, value);
}

static inline bool test_and_set_thread_flag(int flag)
{
	return test_and_set_ti_thread_flag(current_thread_info(), flag);
}

static inline bool test_and_clear_thread_flag(int flag)
{
	return test_and_clear_ti_thread_flag(current_thread_info(), flag);
}

#endif /* __EQUIV_PRELUDE_H */
