/* The RouteGuide feature database: route_guide_db.json read with cJSON, and
 * the tutorial's geometry (route_guide_server.py: get_feature, the
 * ListFeatures rectangle, get_distance). */
#include "route_guide_db.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The shipped file is 20 KiB; anything near this is not a feature list. */
#define MAX_DB_FILE_SIZE (64u * 1024u * 1024u)

#define DB_FILE_NAME "route_guide_db.json"

struct rg_db {
  rg_feature *features;
  size_t count;
  /* All names, NUL-separated; features[i].name points into it. */
  char *names;
};

const char *rg_db_strerror(int code) {
  switch (code) {
  case RG_DB_OK:
    return "success";
  case RG_DB_EIO:
    return "cannot read the file";
  case RG_DB_EFORMAT:
    return "not a RouteGuide feature list";
  case RG_DB_ENOMEM:
    return "out of memory";
  default:
    return "unknown error";
  }
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (!err || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Reads the whole file into a malloc'd NUL-terminated buffer. */
static int read_file(const char *path, char **data_out, size_t *len_out,
                     char *err, size_t errlen) {
  FILE *f;
  char *data = NULL;
  size_t len = 0, cap = 0;
  int rc = RG_DB_OK;

  *data_out = NULL;
  f = fopen(path, "rb");
  if (!f) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return RG_DB_EIO;
  }
  for (;;) {
    size_t n;
    if (cap - len < 4096) {
      size_t ncap = cap ? cap * 2 : 32768;
      char *nd;
      if (ncap > MAX_DB_FILE_SIZE + 1) {
        set_err(err, errlen, "%s: larger than %u bytes", path,
                MAX_DB_FILE_SIZE);
        rc = RG_DB_EFORMAT;
        goto out;
      }
      nd = realloc(data, ncap);
      if (!nd) {
        set_err(err, errlen, "%s: out of memory", path);
        rc = RG_DB_ENOMEM;
        goto out;
      }
      data = nd;
      cap = ncap;
    }
    n = fread(data + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0)
      break;
  }
  if (ferror(f)) {
    set_err(err, errlen, "%s: read error", path);
    rc = RG_DB_EIO;
    goto out;
  }
  data[len] = '\0';
  *data_out = data;
  *len_out = len;
  data = NULL;
out:
  free(data);
  fclose(f);
  return rc;
}

/* A JSON number that is an exact int32; a missing or null one is 0. */
static int get_int32(const cJSON *obj, const char *key, int32_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  double d;
  *out = 0;
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsNumber(v))
    return -1;
  d = v->valuedouble;
  if (!isfinite(d) || d != floor(d) || d < -2147483648.0 || d > 2147483647.0)
    return -1;
  *out = (int32_t)d;
  return 0;
}

int rg_db_load(rg_db **db_out, const char *path, char *err, size_t errlen) {
  char *text = NULL, *names_end;
  size_t text_len = 0, count, names_size = 0, i;
  cJSON *root = NULL;
  const cJSON *item;
  rg_db *db = NULL;
  int rc;

  if (err && errlen)
    err[0] = '\0';
  if (!db_out || !path) {
    set_err(err, errlen, "rg_db_load: NULL argument");
    if (db_out)
      *db_out = NULL;
    return RG_DB_EFORMAT;
  }
  *db_out = NULL;

  rc = read_file(path, &text, &text_len, err, errlen);
  if (rc)
    return rc;

  root = cJSON_ParseWithLength(text, text_len);
  if (!root) {
    set_err(err, errlen, "%s: not valid JSON", path);
    rc = RG_DB_EFORMAT;
    goto out;
  }
  if (!cJSON_IsArray(root)) {
    set_err(err, errlen, "%s: expected a JSON array of features", path);
    rc = RG_DB_EFORMAT;
    goto out;
  }

  /* First pass: check every entry and size the name block. */
  count = 0;
  cJSON_ArrayForEach(item, root) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(item, "location");
    int32_t dummy;
    if (!cJSON_IsObject(item)) {
      set_err(err, errlen, "%s: feature %zu is not an object", path, count);
      rc = RG_DB_EFORMAT;
      goto out;
    }
    if (name && !cJSON_IsNull(name) && !cJSON_IsString(name)) {
      set_err(err, errlen, "%s: feature %zu: \"name\" is not a string", path,
              count);
      rc = RG_DB_EFORMAT;
      goto out;
    }
    if (loc && !cJSON_IsNull(loc) &&
        (!cJSON_IsObject(loc) || get_int32(loc, "latitude", &dummy) ||
         get_int32(loc, "longitude", &dummy))) {
      set_err(err, errlen,
              "%s: feature %zu: \"location\" is not an object of two int32 "
              "\"latitude\" and \"longitude\"",
              path, count);
      rc = RG_DB_EFORMAT;
      goto out;
    }
    names_size += (cJSON_IsString(name) ? strlen(name->valuestring) : 0) + 1;
    count++;
  }

  db = calloc(1, sizeof *db);
  if (!db)
    goto nomem;
  db->features = calloc(count ? count : 1, sizeof *db->features);
  db->names = malloc(names_size ? names_size : 1);
  if (!db->features || !db->names)
    goto nomem;

  /* Second pass: copy. */
  names_end = db->names;
  i = 0;
  cJSON_ArrayForEach(item, root) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(item, "location");
    rg_feature *f = &db->features[i++];
    size_t n = cJSON_IsString(name) ? strlen(name->valuestring) : 0;
    if (n)
      memcpy(names_end, name->valuestring, n);
    names_end[n] = '\0';
    f->name = names_end;
    names_end += n + 1;
    if (cJSON_IsObject(loc)) {
      get_int32(loc, "latitude", &f->location.latitude);
      get_int32(loc, "longitude", &f->location.longitude);
    }
  }
  db->count = count;
  *db_out = db;
  db = NULL;
  rc = RG_DB_OK;
  goto out;

nomem:
  set_err(err, errlen, "%s: out of memory", path);
  rc = RG_DB_ENOMEM;
out:
  rg_db_free(db);
  cJSON_Delete(root);
  free(text);
  return rc;
}

void rg_db_free(rg_db *db) {
  if (!db)
    return;
  free(db->features);
  free(db->names);
  free(db);
}

const rg_feature *rg_db_features(const rg_db *db, size_t *count_out) {
  *count_out = db ? db->count : 0;
  return db ? db->features : NULL;
}

const rg_feature *rg_db_find(const rg_db *db, rg_point p) {
  size_t i;
  if (!db)
    return NULL;
  for (i = 0; i < db->count; i++) {
    const rg_feature *f = &db->features[i];
    if (f->location.latitude == p.latitude &&
        f->location.longitude == p.longitude)
      return f;
  }
  return NULL;
}

int rg_in_rectangle(rg_point a, rg_point b, rg_point p) {
  int32_t left = a.longitude < b.longitude ? a.longitude : b.longitude;
  int32_t right = a.longitude < b.longitude ? b.longitude : a.longitude;
  int32_t bottom = a.latitude < b.latitude ? a.latitude : b.latitude;
  int32_t top = a.latitude < b.latitude ? b.latitude : a.latitude;
  return p.longitude >= left && p.longitude <= right &&
         p.latitude >= bottom && p.latitude <= top;
}

/* Python's math.radians: x * (pi / 180). */
static double radians(double deg) {
  return deg * (3.14159265358979323846 / 180.0);
}

double rg_distance_m(rg_point from, rg_point to) {
  const double coord_factor = 10000000.0;
  const double r = 6371000.0; /* metres */
  double lat1 = from.latitude / coord_factor;
  double lat2 = to.latitude / coord_factor;
  double lon1 = from.longitude / coord_factor;
  double lon2 = to.longitude / coord_factor;
  double s_dlat = sin(radians(lat2 - lat1) / 2);
  double s_dlon = sin(radians(lon2 - lon1) / 2);
  double a = s_dlat * s_dlat +
             cos(radians(lat1)) * cos(radians(lat2)) * s_dlon * s_dlon;
  /* Rounding can push a a hair outside [0, 1] for antipodal points. */
  if (a < 0)
    a = 0;
  if (a > 1)
    a = 1;
  return r * 2 * atan2(sqrt(a), sqrt(1 - a));
}

char *rg_db_default_path(char *buf, size_t len) {
  char exe[4096];
  ssize_t n;
  if (!buf || len == 0)
    return buf;
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    char *slash;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash) {
      int w;
      *slash = '\0';
      w = snprintf(buf, len, "%s/%s", exe, DB_FILE_NAME);
      if (w > 0 && (size_t)w < len && access(buf, R_OK) == 0)
        return buf;
    }
  }
  snprintf(buf, len, "%s", DB_FILE_NAME);
  return buf;
}
