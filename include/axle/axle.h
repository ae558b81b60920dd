/*
 * axle/axle.h — the umbrella header: everything public in one include.
 */
#ifndef AXLE_AXLE_H
#define AXLE_AXLE_H

#include <axle/error.h>
#include <axle/ipc.h>
#include <axle/log.h>
#include <axle/msg.h>
#include <axle/shm.h>
#include <axle/task.h>
#include <axle/uid.h>

#endif
