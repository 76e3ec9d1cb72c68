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
    pbc_encoded_size, pbc_encode, pbc_decode,
    pbc_free,         pbc_message_size, pbc_init};
