/*
 * axle/axle.h — the umbrella header: everything public in one include.
 */
#ifndef AXLE_AXLE_H
#define AXLE_AXLE_H

#include <axle/error.h>
#include <axle/log.h>
#include <axle/task.h>

#endif
