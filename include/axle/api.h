/*
 * axle/api.h — AXLE_API: what the library exports. Built with
 * -fvisibility=hidden, libaxle exports exactly the declarations marked so.
 */
#ifndef AXLE_API_H
#define AXLE_API_H

#if defined(AXLE_BUILDING) && defined(__GNUC__)
#define AXLE_API __attribute__((visibility("default")))
#else
#define AXLE_API
#endif

#endif
