/* SPDX-License-Identifier: MIT */
/*
 * Giving up root once every source and file is open: switch to the -u user, keeping only the
 * capabilities process attribution needs.
 */
#include "sensor_impl.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Process attribution reads other users' /proc/PID/fd and /proc/PID/exe: after the switch it
 * keeps CAP_SYS_PTRACE (ptrace read access to those files) and CAP_DAC_READ_SEARCH, and
 * nothing else: no way back to root, no packet or network administration rights.
 */
static int keep_attribution_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    uint64_t keep = (1ull << CAP_SYS_PTRACE) | (1ull << CAP_DAC_READ_SEARCH);

    memset(data, 0, sizeof(data));
    data[0].permitted = data[0].effective = (uint32_t)keep;
    data[1].permitted = data[1].effective = (uint32_t)(keep >> 32);
    return (int)syscall(SYS_capset, &hdr, data);
}

int drop_privileges(const char *user, bool attribution)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL) {
        fprintf(stderr, "tunwatch: -u %s: no such user\n", user);
        return -1;
    }
    if (attribution && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) {
        fprintf(stderr, "tunwatch: -u %s: cannot keep capabilities: %s\n", user, strerror(errno));
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "tunwatch: -u %s: cannot switch user: %s\n", user, strerror(errno));
        return -1;
    }
    if (attribution) {
        prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
        if (keep_attribution_caps() != 0)
            fprintf(stderr, "tunwatch: -u %s: cannot keep CAP_SYS_PTRACE for process "
                            "attribution (%s): only %s's processes will be named\n",
                    user, strerror(errno), user);
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        fprintf(stderr, "tunwatch: -u %s: root privileges could be regained, refusing to run\n",
                user);
        return -1;
    }
    return 0;
}
