/*
 * include/linux/kconfig.h for equiv.
 *
 * Follows the meaning of the kernel's include/linux/kconfig.h (Linux v6.12):
 * IS_ENABLED(CONFIG_X) is true when X is y or m, IS_BUILTIN when it is y,
 * IS_MODULE when it is m, IS_REACHABLE when the code can call into it.
 * Written for equiv; no kernel text.  equiv gives every switch the values y
 * and n (code under check is built in), so IS_BUILTIN and IS_REACHABLE are
 * IS_ENABLED and IS_MODULE is 0.  IS_ENABLED itself is the prelude's: the
 * symbolic switch, or 0/1 when a -D pin or the configuration being run
 * defines CONFIG_X.  With --tree this file is force-included, as the kernel's
 * build force-includes its own, and a `#include <linux/kconfig.h>` finds it
 * before the tree's.
 */
#ifndef __EQUIV_LINUX_KCONFIG_H
#define __EQUIV_LINUX_KCONFIG_H

#define IS_BUILTIN(option)	IS_ENABLED(option)
#define IS_REACHABLE(option)	IS_ENABLED(option)
#define IS_MODULE(option)	0

#endif /* __EQUIV_LINUX_KCONFIG_H */
