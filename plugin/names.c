/* protoc-gen-tern: protobuf-c 1.4.1's name mangling, so generated service
 * code names message types exactly as protoc-c does, and the words that
 * cannot be used as identifiers. */
#include "plugin_int.h"

#include <stdlib.h>
#include <string.h>

/* The <ctype.h> functions depend on the locale and take int; proto names
 * are ASCII, so these are explicit. */
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char to_lower(char c) { return is_upper(c) ? (char)(c - 'A' + 'a') : c; }
static char to_upper(char c) { return is_lower(c) ? (char)(c - 'a' + 'A') : c; }

/* CamelToLower / CamelToUpper: an underscore before each capital that does
 * not follow another capital. */
static char *camel_split(pg_arena *a, const char *name, int upper) {
  size_t n = strlen(name);
  char *out = pg_alloc(a, 2 * n + 1);
  size_t j = 0;
  int was_upper = 1; /* no underscore before a leading capital */
  size_t i;
  for (i = 0; i < n; i++) {
    int up = is_upper(name[i]);
    if (up && !was_upper)
      out[j++] = '_';
    out[j++] = upper ? to_upper(name[i]) : to_lower(name[i]);
    was_upper = up;
  }
  out[j] = '\0';
  return out;
}

char *pg_camel_to_lower(pg_arena *a, const char *name) {
  return camel_split(a, name, 0);
}

char *pg_camel_to_upper(pg_arena *a, const char *name) {
  return camel_split(a, name, 1);
}

char *pg_to_camel(pg_arena *a, const char *name) {
  size_t n = strlen(name);
  char *out = pg_alloc(a, n + 1);
  size_t j = 0;
  int next_upper = 1;
  size_t i;
  for (i = 0; i < n; i++) {
    if (name[i] == '_') {
      next_upper = 1;
    } else if (next_upper) {
      out[j++] = to_upper(name[i]);
      next_upper = 0;
    } else {
      out[j++] = name[i];
    }
  }
  out[j] = '\0';
  return out;
}

/* Splits on dots (skipping empty pieces, so a leading dot is fine),
 * converts each piece and joins them with "__". */
static char *full_name_to(pg_arena *a, const char *full_name,
                          char *(*piece_fn)(pg_arena *, const char *)) {
  pg_sb b = PG_SB_INIT;
  const char *p = full_name;
  char *out;
  while (*p != '\0') {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n > 0) {
      char *piece = pg_strndup(a, p, n);
      if (b.len > 0)
        pg_sb_puts(&b, "__");
      pg_sb_puts(&b, piece_fn(a, piece));
    }
    p += n;
    if (*p == '.')
      p++;
  }
  out = pg_strndup(a, b.data ? b.data : "", b.len);
  pg_sb_free(&b);
  return out;
}

char *pg_full_name_to_c(pg_arena *a, const char *full_name) {
  return full_name_to(a, full_name, pg_to_camel);
}

char *pg_full_name_to_lower(pg_arena *a, const char *full_name) {
  return full_name_to(a, full_name, pg_camel_to_lower);
}

char *pg_full_name_to_upper(pg_arena *a, const char *full_name) {
  return full_name_to(a, full_name, pg_camel_to_upper);
}

/* Words a generated identifier must not be: the keywords of C99 to C23
 * and of C++ (the header is also compiled as C++), macros from standard
 * headers a user is likely to include (bool, true, errno, complex, assert,
 * noreturn...) and names gcc predefines in GNU modes (linux, unix, i386).
 * Mangled lower-case names hold only [a-z0-9_], so only those words matter.
 * Sorted (plain strcmp order) for bsearch. */
static const char *const reserved[] = {
    "alignas",     "alignof",
    "and",         "and_eq",
    "asm",         "assert",
    "auto",        "bitand",
    "bitor",       "bool",
    "break",       "case",
    "catch",       "char",
    "char16_t",    "char32_t",
    "char8_t",     "class",
    "co_await",    "co_return",
    "co_yield",    "compl",
    "complex",     "concept",
    "const",       "const_cast",
    "consteval",   "constexpr",
    "constinit",   "continue",
    "decltype",    "default",
    "delete",      "do",
    "double",      "dynamic_cast",
    "else",        "enum",
    "errno",       "explicit",
    "export",      "extern",
    "false",       "float",
    "for",         "friend",
    "goto",        "i386",
    "if",          "imaginary",
    "inline",      "int",
    "linux",       "long",
    "mutable",     "namespace",
    "new",         "noexcept",
    "noreturn",    "not",
    "not_eq",      "nullptr",
    "operator",    "or",
    "or_eq",       "private",
    "protected",   "public",
    "register",    "reinterpret_cast",
    "requires",    "restrict",
    "return",      "short",
    "signed",      "sizeof",
    "static",      "static_assert",
    "static_cast", "struct",
    "switch",      "template",
    "this",        "thread_local",
    "throw",       "true",
    "try",         "typedef",
    "typeid",      "typename",
    "typeof",      "typeof_unqual",
    "union",       "unix",
    "unsigned",    "using",
    "virtual",     "void",
    "volatile",    "wchar_t",
    "while",       "xor",
    "xor_eq",
};

static int compare_word(const void *key, const void *elem) {
  return strcmp((const char *)key, *(const char *const *)elem);
}

int pg_is_reserved(const char *word) {
  return bsearch(word, reserved, sizeof(reserved) / sizeof(reserved[0]),
                 sizeof(reserved[0]), compare_word) != NULL;
}

int pg_is_identifier(const char *s) {
  size_t i;
  if (s == NULL || !(is_upper(s[0]) || is_lower(s[0]) || s[0] == '_'))
    return 0;
  for (i = 1; s[i] != '\0'; i++) {
    char c = s[i];
    if (!(is_upper(c) || is_lower(c) || is_digit(c) || c == '_'))
      return 0;
  }
  return 1;
}

int pg_is_dotted_identifier(const char *s) {
  int at_start = 1;
  size_t i;
  if (s == NULL || s[0] == '\0')
    return 0;
  for (i = 0; s[i] != '\0'; i++) {
    char c = s[i];
    if (c == '.') {
      if (at_start)
        return 0; /* empty piece */
      at_start = 1;
    } else if (is_upper(c) || is_lower(c) || c == '_' ||
               (!at_start && is_digit(c))) {
      at_start = 0;
    } else {
      return 0;
    }
  }
  return !at_start;
}
