// Shared by the grpc C++ RouteGuide peers (cpp_rg_server, cpp_rg_client):
// the feature database, the tutorial's distance formula, and small helpers.
// Header-only so each peer stays one translation unit of its own.
#ifndef TERN_TESTS_INTEROP_CPP_RG_COMMON_H
#define TERN_TESTS_INTEROP_CPP_RG_COMMON_H

#include <cjson/cJSON.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace rgpeer {

// One entry of route_guide_db.json.
struct DbFeature {
  int32_t latitude = 0;
  int32_t longitude = 0;
  std::string name;
};

// Reads the whole file; false (with *err set) when it cannot.
inline bool ReadWholeFile(const std::string& path, std::string* out,
                          std::string* err) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *err = "cannot open " + path;
    return false;
  }
  out->clear();
  char chunk[8192];
  const size_t kMaxBytes = 16u << 20;  // the DB is ~16 KiB; refuse anything huge
  for (;;) {
    size_t n = std::fread(chunk, 1, sizeof chunk, f);
    out->append(chunk, n);
    if (n < sizeof chunk || out->size() > kMaxBytes) break;
  }
  bool ok = !std::ferror(f) && out->size() <= kMaxBytes;
  std::fclose(f);
  if (!ok) *err = "cannot read " + path;
  return ok;
}

// A JSON number that is an integer within int32 range.
inline bool JsonInt32(const cJSON* item, int32_t* out) {
  if (!cJSON_IsNumber(item)) return false;
  double v = item->valuedouble;
  if (v < -2147483648.0 || v > 2147483647.0 || v != std::floor(v)) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

// Parses the tutorial's DB format:
//   [ {"location": {"latitude": N, "longitude": N}, "name": "..."}, ... ]
inline bool LoadFeatureDb(const std::string& path, std::vector<DbFeature>* db,
                          std::string* err) {
  std::string text;
  if (!ReadWholeFile(path, &text, err)) return false;
  cJSON* root = cJSON_ParseWithLength(text.data(), text.size());
  if (root == nullptr || !cJSON_IsArray(root)) {
    cJSON_Delete(root);
    *err = path + ": not a JSON array";
    return false;
  }
  db->clear();
  const cJSON* entry = nullptr;
  int index = 0;
  bool ok = true;
  cJSON_ArrayForEach(entry, root) {
    const cJSON* loc = cJSON_GetObjectItemCaseSensitive(entry, "location");
    const cJSON* name = cJSON_GetObjectItemCaseSensitive(entry, "name");
    DbFeature f;
    if (!cJSON_IsObject(loc) || !cJSON_IsString(name) ||
        !JsonInt32(cJSON_GetObjectItemCaseSensitive(loc, "latitude"), &f.latitude) ||
        !JsonInt32(cJSON_GetObjectItemCaseSensitive(loc, "longitude"), &f.longitude)) {
      *err = path + ": bad entry #" + std::to_string(index);
      ok = false;
      break;
    }
    f.name = name->valuestring;
    db->push_back(std::move(f));
    ++index;
  }
  cJSON_Delete(root);
  if (ok && db->empty()) {
    *err = path + ": no features";
    ok = false;
  }
  return ok;
}

// The DB entry at a point, or nullptr.
inline const DbFeature* FindFeature(const std::vector<DbFeature>& db,
                                    int32_t latitude, int32_t longitude) {
  for (const DbFeature& f : db) {
    if (f.latitude == latitude && f.longitude == longitude) return &f;
  }
  return nullptr;
}

// Whether a point lies in the rectangle spanned by two corners given in any
// order (edges included), as in the tutorial.
inline bool InRectangle(int32_t lat_a, int32_t lon_a, int32_t lat_b,
                        int32_t lon_b, int32_t lat, int32_t lon) {
  int32_t lat_min = lat_a < lat_b ? lat_a : lat_b;
  int32_t lat_max = lat_a < lat_b ? lat_b : lat_a;
  int32_t lon_min = lon_a < lon_b ? lon_a : lon_b;
  int32_t lon_max = lon_a < lon_b ? lon_b : lon_a;
  return lat >= lat_min && lat <= lat_max && lon >= lon_min && lon <= lon_max;
}

// Great-circle distance in metres between two E7 points (haversine,
// mean Earth radius 6371 km), the formula the tutorial uses.
inline double DistanceMetres(int32_t lat1_e7, int32_t lon1_e7, int32_t lat2_e7,
                             int32_t lon2_e7) {
  const double kE7 = 1e7;
  const double kRadPerDeg = 3.14159265358979323846 / 180.0;
  const double kEarthRadius = 6371000.0;
  double phi1 = lat1_e7 / kE7 * kRadPerDeg;
  double phi2 = lat2_e7 / kE7 * kRadPerDeg;
  double dphi = (lat2_e7 - static_cast<double>(lat1_e7)) / kE7 * kRadPerDeg;
  double dlambda = (lon2_e7 - static_cast<double>(lon1_e7)) / kE7 * kRadPerDeg;
  double s1 = std::sin(dphi / 2);
  double s2 = std::sin(dlambda / 2);
  double h = s1 * s1 + std::cos(phi1) * std::cos(phi2) * s2 * s2;
  if (h > 1) h = 1;
  return kEarthRadius * 2 * std::atan2(std::sqrt(h), std::sqrt(1 - h));
}

// Strict decimal parse of a whole string into [lo, hi].
inline bool ParseLong(const std::string& s, long lo, long hi, long* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0' || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

// Command-line flags in both forms, `--name=value` and `--name value`.
// argv[*i] is this flag: true with *value set (advancing *i for the second
// form); *missing set when it has no value. False for another flag.
inline bool FlagValue(int argc, char** argv, int* i, const std::string& name,
                      std::string* value, bool* missing) {
  std::string arg = argv[*i];
  if (arg.compare(0, name.size(), name) != 0) return false;
  if (arg.size() > name.size() && arg[name.size()] == '=') {
    *value = arg.substr(name.size() + 1);
    return true;
  }
  if (arg.size() != name.size()) return false;
  if (*i + 1 >= argc) {
    *missing = true;
    return false;
  }
  *value = argv[++*i];
  return true;
}

// A boolean flag: `--name`, `--name=true|false`, `--name true|false`.
// 1 when argv[*i] is this flag (*out set), 0 for another, -1 for a value
// other than true/false.
inline int FlagBool(int argc, char** argv, int* i, const std::string& name,
                    bool* out) {
  std::string arg = argv[*i];
  std::string v;
  if (arg == name) {
    if (*i + 1 < argc && (std::string(argv[*i + 1]) == "true" ||
                          std::string(argv[*i + 1]) == "false")) {
      v = argv[++*i];
    } else {
      *out = true;
      return 1;
    }
  } else if (arg.compare(0, name.size() + 1, name + "=") == 0) {
    v = arg.substr(name.size() + 1);
  } else {
    return 0;
  }
  if (v == "true" || v == "1") {
    *out = true;
    return 1;
  }
  if (v == "false" || v == "0") {
    *out = false;
    return 1;
  }
  return -1;
}

}  // namespace rgpeer

#endif  // TERN_TESTS_INTEROP_CPP_RG_COMMON_H
