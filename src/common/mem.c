/* The process's allocator, the library's version, and the copy-in of
 * structs compiled into programs (the ABI rule of tern.h). */
#include "common/common_int.h"

tern_allocator tern__allocator;
int tern__allocator_used;

int tern_set_allocator(const tern_allocator *a) {
  tern_allocator copy;
  if (__atomic_load_n(&tern__allocator_used, __ATOMIC_RELAXED))
    return TERN_ESTATE;
  if (!a) {
    memset(&tern__allocator, 0, sizeof(tern__allocator));
    return TERN_OK;
  }
  if (tern__struct_in(&copy, sizeof(copy), a, sizeof(copy)) != TERN_OK ||
      !copy.malloc || !copy.realloc || !copy.free)
    return TERN_EINVAL;
  tern__allocator = copy;
  return TERN_OK;
}

unsigned tern_version(void) { return TERN_VERSION_NUM; }

int tern__struct_in(void *dst, size_t dst_size, const void *src,
                    size_t min_size) {
  uint32_t size;
  memcpy(&size, src, sizeof(size));
  if (size < min_size)
    return TERN_EINVAL;
  if (size > dst_size) {
    const unsigned char *extra = (const unsigned char *)src + dst_size;
    size_t i;
    for (i = 0; i < size - dst_size; i++)
      if (extra[i])
        return TERN_EINVAL;
    size = (uint32_t)dst_size;
  }
  memcpy(dst, src, size);
  memset((char *)dst + size, 0, dst_size - size);
  return TERN_OK;
}
