/* tern's binding to protobuf-c: the codec that generated service code
 * uses. Method descriptors point their request/response types at
 * ProtobufCMessageDescriptor objects. */
#ifndef TERN_PROTOBUF_C_H
#define TERN_PROTOBUF_C_H

#include <tern/tern.h>

#ifdef __cplusplus
extern "C" {
#endif

/* `type` is a const ProtobufCMessageDescriptor *. */
TERN_EXTERN extern const tern_codec tern_protobuf_c_codec;

#ifdef __cplusplus
}
#endif

#endif /* TERN_PROTOBUF_C_H */
