/* The protobuf-c codec: the only file of the core that knows protobuf-c. */
#include <protobuf-c/protobuf-c.h>
#include <stdlib.h>

#include "tern/protobuf_c.h"

static size_t pbc_encoded_size(const void *type, const void *msg) {
  (void)type;
  return protobuf_c_message_get_packed_size((const ProtobufCMessage *)msg);
}

static size_t pbc_encode(const void *type, const void *msg, uint8_t *out) {
  (void)type;
  return protobuf_c_message_pack((const ProtobufCMessage *)msg, out);
}

static int pbc_decode(const void *type, const uint8_t *data, size_t len,
                      void **msg_out) {
  ProtobufCMessage *m = protobuf_c_message_unpack(
      (const ProtobufCMessageDescriptor *)type, NULL, len, data);
  *msg_out = m;
  /* protobuf-c says NULL for both bad bytes and no memory; bad bytes is
   * by far the likelier, and the caller maps it to INTERNAL. */
  return m ? 0 : TERN_EPROTO;
}

/* protobuf-c's allocator over tern's: nothing is freed one by one (a
 * failed decode's pieces go with the arena too). */
typedef struct pbc_arena {
  void *(*alloc)(void *ctx, size_t n);
  void *ctx;
} pbc_arena;

static void *pbc_arena_alloc(void *data, size_t n) {
  pbc_arena *a = data;
  return a->alloc(a->ctx, n);
}

static void pbc_arena_free(void *data, void *p) {
  (void)data;
  (void)p;
}

static int pbc_decode_with(const void *type, const uint8_t *data, size_t len,
                           void *(*alloc)(void *ctx, size_t n), void *ctx,
                           void **msg_out) {
  pbc_arena a;
  ProtobufCAllocator pa;
  ProtobufCMessage *m;
  a.alloc = alloc;
  a.ctx = ctx;
  pa.alloc = pbc_arena_alloc;
  pa.free = pbc_arena_free;
  pa.allocator_data = &a;
  m = protobuf_c_message_unpack((const ProtobufCMessageDescriptor *)type, &pa,
                                len, data);
  *msg_out = m;
  return m ? 0 : TERN_EPROTO;
}

static void pbc_free(const void *type, void *msg) {
  (void)type;
  if (msg)
    protobuf_c_message_free_unpacked((ProtobufCMessage *)msg, NULL);
}

static size_t pbc_message_size(const void *type) {
  return ((const ProtobufCMessageDescriptor *)type)->sizeof_message;
}

static void pbc_init(const void *type, void *msg) {
  protobuf_c_message_init((const ProtobufCMessageDescriptor *)type, msg);
}

const tern_codec tern_protobuf_c_codec = {
    .struct_size = sizeof(tern_codec),
    .encoded_size = pbc_encoded_size,
    .encode = pbc_encode,
    .decode = pbc_decode,
    .free_message = pbc_free,
    .message_size = pbc_message_size,
    .init_message = pbc_init,
    .decode_with = pbc_decode_with,
};
