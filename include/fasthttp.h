/**
 * @file
 * fasthttp — a multithreaded HTTP/1.1 server framework in C.
 *
 * The umbrella header: include this one. Each module's header documents its
 * functions, who owns what and how long each view stays valid.
 */
#ifndef FASTHTTP_H
#define FASTHTTP_H

/** @{ */
/** The library's version: major, minor, patch, and the three as a string. */
#define FASTHTTP_VERSION_MAJOR 0
#define FASTHTTP_VERSION_MINOR 1
#define FASTHTTP_VERSION_PATCH 0
#define FASTHTTP_VERSION_STRING "0.1.0"
/** @} */

#include "fasthttp/common.h"
#include "fasthttp/arena.h"
#include "fasthttp/request.h"
#include "fasthttp/response.h"
#include "fasthttp/server.h"
#include "fasthttp/tls.h"
#include "fasthttp/schema.h"
#include "fasthttp/operation.h"
#include "fasthttp/router.h"
#include "fasthttp/openapi.h"
#include "fasthttp/json.h"
#include "fasthttp/input.h"
#include "fasthttp/multipart.h"
#include "fasthttp/async.h"
#include "fasthttp/pool.h"
#include "fasthttp/stream.h"
#include "fasthttp/body.h"
#include "fasthttp/spool.h"
#include "fasthttp/static.h"
#include "fasthttp/metrics.h"
#include "fasthttp/middleware.h"
#include "fasthttp/mw_access_log.h"
#include "fasthttp/mw_auth.h"
#include "fasthttp/mw_compress.h"
#include "fasthttp/mw_cors.h"
#include "fasthttp/mw_rate_limit.h"
#include "fasthttp/mw_recover.h"
#include "fasthttp/mw_request_id.h"
#include "fasthttp/mw_security.h"
#include "fasthttp/websocket.h"

#endif /* FASTHTTP_H */
