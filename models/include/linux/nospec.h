/*
 * include/linux/nospec.h for equiv.
 *
 * Follows the value semantics of the kernel's include/linux/nospec.h (Linux
 * v6.12) and of the architectures' array_index_mask_nospec()
 * (arch/arm64/include/asm/barrier.h: cmp + csetm lo; arch/x86/include/asm/
 * barrier.h: cmp + sbb).  Written for equiv; no kernel text.
 *
 * array_index_nospec(index, size) is a speculation barrier: architecturally it
 * is `index` when index < size, compared as unsigned long, else 0, converted
 * back to the type of `index`.  The barrier itself (what a CPU may do under
 * speculation) is not observable here and is left out.  This is exact for
 * arm64 and x86; the generic mask (used where an architecture defines none)
 * agrees with it whenever index and size are at most LONG_MAX, which the
 * kernel's own comment requires of its callers.
 *
 * A `#include <linux/nospec.h>` finds this file before a --tree's own, so the
 * macro keeps this meaning there too; the header's other declarations
 * (arch_prctl_spec_ctrl_get() and friends) are not here: a call of one is an
 * external call, as for any function nothing declares.
 */
#ifndef __EQUIV_LINUX_NOSPEC_H
#define __EQUIV_LINUX_NOSPEC_H

static inline unsigned long array_index_mask_nospec(unsigned long index,
						    unsigned long size)
{
	return index < size ? ~0UL : 0UL;
}

#define array_index_nospec(index, size)					\
({									\
	typeof(index) __equiv_nospec_i = (index);			\
	typeof(size) __equiv_nospec_s = (size);				\
	typeof(index) __equiv_nospec_r =				\
		(unsigned long)__equiv_nospec_i &			\
		array_index_mask_nospec((unsigned long)__equiv_nospec_i, \
					(unsigned long)__equiv_nospec_s); \
	__equiv_nospec_r;						\
})

#endif /* __EQUIV_LINUX_NOSPEC_H */
