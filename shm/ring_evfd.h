/*
 * shm/ring_evfd.h — what ring_evfd.c needs of ring.c (private).
 */
#ifndef AXLE_SHM_RING_EVFD_H
#define AXLE_SHM_RING_EVFD_H

#include <axle/shm.h>

#include "ring_layout.h"

struct axle__ring_evfd;

axle__ring_hdr *axle__ring_hdr_of(axle_ring *r);
axle_ring_role axle__ring_role_of(const axle_ring *r);
struct axle__ring_evfd **axle__ring_evfd_slot(axle_ring *r);
/* The consumer end parks with a plain fence from now on (see ring.c). */
void axle__ring_fence_for_good(axle_ring *r);

/* Stop r's helper thread and close its fd, if it has one (axle_ring_close). */
void axle__ring_evfd_stop(axle_ring *r);

#endif
