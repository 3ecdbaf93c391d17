/*
 * malloc_trim(0) for Node.js, through Node-API (one binary for every Node.js version).
 *
 * glibc keeps memory a process freed in its heap, and gives back to the system only what lies
 * at the top of it. Starting a Node.js server frees megabytes between allocations that stay
 * (V8's compiler zones, mostly), and those pages stay resident. malloc_trim(0) walks every
 * arena and returns each whole free page (madvise MADV_DONTNEED). Elsewhere than glibc (musl,
 * macOS) there is no such call and trim() returns false.
 */
#include <stdlib.h>
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  napi_value result;
  if (napi_get_boolean(env, released != 0, &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_value supported;
#if defined(__GLIBC__)
  const bool glibc = true;
#else
  const bool glibc = false;
#endif
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  if (napi_get_boolean(env, glibc, &supported) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "supported", supported) != napi_ok) return NULL;
  return exports;
}
