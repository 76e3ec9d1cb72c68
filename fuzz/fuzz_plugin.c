/* fuzz_plugin: protoc-gen-tern on a CodeGeneratorRequest from the input
 * bytes, as protoc would hand it over on stdin: the plugin's own wire check
 * (depth limit), protobuf-c's unpack, the model (pg_build) and the
 * emitters. The response that would go to stdout is captured in memory
 * and must decode as a CodeGeneratorResponse.
 *
 * The plugin's .c is included with main() renamed (h2o-style), so its
 * static check_wire() and run() are reached exactly as main() calls them;
 * `stdout` is redirected to a per-input memory stream. FUZZ_VERBOSE=1
 * prints the response's error or files. */
#include <stdio.h>

static FILE *fuzz_plugin_out;
#undef stdout
#define stdout fuzz_plugin_out
#define main plugin_main
#include "../plugin/protoc-gen-tern.c"
#undef main
#undef stdout

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pg_request *req = NULL;
  char *out = NULL;
  size_t out_len = 0;
  Google__Protobuf__Compiler__CodeGeneratorResponse *resp;

  /* protoc's requests are small; past this only slow inputs remain. */
  if (size > (1u << 20))
    return 0;
  if (check_wire(
          &google__protobuf__compiler__code_generator_request__descriptor,
          data, data + size, 0) == 0)
    req = google__protobuf__compiler__code_generator_request__unpack(
        NULL, size, data);
  if (req == NULL)
    return 0;
  fuzz_plugin_out = open_memstream(&out, &out_len);
  if (!fuzz_plugin_out)
    abort();
  if (run(req) != 0)
    abort(); /* only a failed write makes run() fail */
  fclose(fuzz_plugin_out);
  fuzz_plugin_out = NULL;
  google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);

  resp = google__protobuf__compiler__code_generator_response__unpack(
      NULL, out_len, (const uint8_t *)out);
  if (resp == NULL) {
    fprintf(stderr, "the plugin wrote %zu bytes that are not a "
                    "CodeGeneratorResponse\n", out_len);
    abort();
  }
  if (getenv("FUZZ_VERBOSE")) {
    size_t i;
    if (resp->error)
      fprintf(stderr, "  error: %s\n", resp->error);
    for (i = 0; i < resp->n_file; i++)
      fprintf(stderr, "  file: %s (%zu bytes)\n", resp->file[i]->name,
              resp->file[i]->content ? strlen(resp->file[i]->content) : 0);
  }
  google__protobuf__compiler__code_generator_response__free_unpacked(resp,
                                                                     NULL);
  free(out);
  return 0;
}
