/* routes_static: the counter web app's files (config web_dir), served at /.
 *
 * Only regular files inside web_dir: no "..", no hidden files, no directory listings, and
 * nothing that resolves (symbolic links followed, realpath) to a place outside web_dir — a link
 * in the web folder must not serve the config or the keys.
 * "/" is index.html. HTML is revalidated every time; other files may be cached briefly.
 * Every response carries the Content-Security-Policy set in http.c (no inline script). */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/routes.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STATIC_FILE_MAX (8 * 1024 * 1024)
#define STATIC_PATH_MAX 1024

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* True when full resolves to a file inside web_dir (itself resolved); real receives the
 * resolved path, which is what is then opened. */
static bool inside_web_dir(const char *web_dir, const char *full, char real[PATH_MAX])
{
    char root[PATH_MAX];
    if (!realpath(web_dir, root) || !realpath(full, real))
        return false;
    size_t n = strlen(root);
    return strncmp(real, root, n) == 0 && (real[n] == '/' || (n == 1 && root[0] == '/'));
}

static bool safe_path(const char *path)
{
    if (path[0] != '/' || strlen(path) > STATIC_PATH_MAX / 2)
        return false;
    for (const char *p = path; *p; p++) {
        if (p[0] == '/' && p[1] == '.')
            return false; /* "..", hidden files */
        if (*p == '\\' || (unsigned char)*p < 0x20)
            return false;
    }
    return true;
}

void route_static(struct app *app, struct http_request *req)
{
    const char *path = http_path(req);
    if (strncmp(path, "/api/", 5) == 0 || !safe_path(path)) {
        http_reply_error(req, 404, "not_found", "There is nothing at this address.");
        return;
    }
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    const char *type = content_type(path);
    char full[STATIC_PATH_MAX], real[PATH_MAX];
    struct stat st;
    int n = snprintf(full, sizeof full, "%s%s", app->cfg->web_dir, path);
    if (!type || n < 0 || (size_t)n >= sizeof full ||
        !inside_web_dir(app->cfg->web_dir, full, real) || stat(real, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size > STATIC_FILE_MAX) {
        http_reply_error(req, 404, "not_found", "There is nothing at this address.");
        return;
    }
    FILE *f = fopen(real, "rb");
    char *data = f ? malloc((size_t)st.st_size + 1) : NULL;
    size_t got = data ? fread(data, 1, (size_t)st.st_size, f) : 0;
    if (f)
        fclose(f);
    if (!data || got != (size_t)st.st_size) {
        free(data);
        http_reply_error(req, 500, "internal_error", "The file could not be read.");
        return;
    }
    http_set_header(req, "Cache-Control",
                    strstr(type, "text/html") ? "no-cache" : "public, max-age=300");
    http_reply_owned(req, 200, type, data, got);
}
