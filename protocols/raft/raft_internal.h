/* raft_internal.h: what the files of the Raft implementation share with each other. */
#ifndef CTK_RAFT_INTERNAL_H
#define CTK_RAFT_INTERNAL_H

#include <stddef.h>

#include "raft.h"

extern const ctk_option_spec raft_option_specs[];
extern const size_t raft_n_option_specs;

#endif /* CTK_RAFT_INTERNAL_H */
