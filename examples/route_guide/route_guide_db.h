/* The RouteGuide feature database (route_guide_db.json) and the tutorial's
 * geometry: lookup by point, rectangle test, haversine distance. Plain C
 * with no tern or protobuf types, so any RouteGuide server can use it. */
#ifndef ROUTE_GUIDE_DB_H
#define ROUTE_GUIDE_DB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A position in E7: degrees times 10^7, rounded (as routeguide.Point). */
typedef struct rg_point {
  int32_t latitude;
  int32_t longitude;
} rg_point;

/* A named place. `name` is never NULL; it is "" for an unnamed point, which
 * the database has too (the tutorial's data lists them). */
typedef struct rg_feature {
  rg_point location;
  const char *name;
} rg_feature;

/* An immutable, loaded database. Safe to read from any number of threads
 * at once. */
typedef struct rg_db rg_db;

/* Return codes of rg_db_load. */
enum {
  RG_DB_OK = 0,
  RG_DB_EIO = -1,     /* the file could not be opened or read */
  RG_DB_EFORMAT = -2, /* not the JSON layout route_guide_db.json has */
  RG_DB_ENOMEM = -3   /* out of memory */
};

/* Loads a JSON array of {"location": {"latitude": N, "longitude": N},
 * "name": "..."} objects, as the tutorial's route_guide_db.json. A missing
 * name is "" and a missing coordinate 0 (proto3 JSON defaults); a value of
 * the wrong type, or a coordinate that is not an int32, is an error.
 *
 * On success returns RG_DB_OK and a new database in *db_out (free it with
 * rg_db_free). On failure returns a negative RG_DB_E* code, sets *db_out to
 * NULL and, when err is not NULL, writes a NUL-terminated English
 * explanation naming the file to err (truncated to errlen bytes). */
int rg_db_load(rg_db **db_out, const char *path, char *err, size_t errlen);

/* Frees the database and every string it handed out. NULL is a no-op. */
void rg_db_free(rg_db *db);

/* Every feature, in file order. The array and the names are borrowed:
 * valid until rg_db_free. *count_out receives the number of features. */
const rg_feature *rg_db_features(const rg_db *db, size_t *count_out);

/* The first feature at exactly `p` (named or not), or NULL. Borrowed. */
const rg_feature *rg_db_find(const rg_db *db, rg_point p);

/* Non-zero when p lies in the rectangle with opposite corners a and b,
 * edges included. The corners may be given in any order: the rectangle is
 * min..max of their latitudes and of their longitudes. */
int rg_in_rectangle(rg_point a, rg_point b, rg_point p);

/* Great-circle distance in metres between two E7 points: the haversine
 * formula on a sphere of radius 6371000 m, computed as the tutorial's
 * Python get_distance() does. */
double rg_distance_m(rg_point from, rg_point to);

/* Writes to buf (NUL-terminated, at most len bytes) the default database
 * path: route_guide_db.json in the directory of the running executable
 * (read from /proc/self/exe) when that file exists, else
 * "route_guide_db.json" (the current directory). Returns buf. */
char *rg_db_default_path(char *buf, size_t len);

/* A static English name for an RG_DB_* code. Never NULL. */
const char *rg_db_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* ROUTE_GUIDE_DB_H */
