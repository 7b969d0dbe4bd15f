/* test_timeline_browser.c: the timeline page of `ctk sim FILE --html out.html`, opened in headless
 * Chromium (Debian's `chromium`, which scripts/install-deps.sh installs). The DOM Chromium builds
 * holds a lane per node and a line per message; a screenshot, decoded here (PNG through zlib),
 * shows the lanes in their role colours and, on them, arrows in other colours. A machine without
 * Chromium fails this test, with a message saying what to install: it never passes silently. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "tmpdir.h"

#define SHOT_W 1400
#define SHOT_H 500

static char *read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)len + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  buf[len] = 0;
  if (len_out) *len_out = (size_t)len;
  return buf;
}

static size_t count(const char *text, const char *needle) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* ---- a PNG decoder sufficient for Chromium's screenshots: 8-bit RGB or RGBA, no interlace ---- */

typedef struct image {
  uint32_t w, h;
  uint8_t *rgb; /* w * h * 3 */
} image;

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Returns 0 and fills img, or -1 when the file is not a PNG this decoder reads. */
static int png_decode(const uint8_t *png, size_t len, image *img) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (len < 8 || memcmp(png, sig, 8)) return -1;
  uint8_t *idat = NULL;
  size_t idat_len = 0;
  int channels = 0;
  for (size_t off = 8; off + 12 <= len;) {
    uint32_t n = be32(png + off);
    const uint8_t *type = png + off + 4, *data = png + off + 8;
    if (off + 12 + n > len) break;
    if (!memcmp(type, "IHDR", 4)) {
      img->w = be32(data);
      img->h = be32(data + 4);
      if (data[8] != 8 || data[12] != 0) return -1; /* 8 bits, not interlaced */
      channels = data[9] == 2 ? 3 : data[9] == 6 ? 4 : 0;
    } else if (!memcmp(type, "IDAT", 4)) {
      idat = realloc(idat, idat_len + n);
      memcpy(idat + idat_len, data, n);
      idat_len += n;
    }
    off += 12 + n;
  }
  if (!channels || !idat || !img->w || !img->h || img->w > 10000 || img->h > 10000) {
    free(idat);
    return -1;
  }
  size_t stride = (size_t)img->w * channels;
  uLongf raw_len = (uLongf)((stride + 1) * img->h);
  uint8_t *raw = malloc(raw_len);
  int zrc = uncompress(raw, &raw_len, idat, idat_len);
  free(idat);
  if (zrc != Z_OK || raw_len != (stride + 1) * img->h) {
    free(raw);
    return -1;
  }
  /* Undo the per-row filters (PNG specification, section 9). */
  uint8_t *pix = calloc(stride * img->h, 1);
  for (uint32_t y = 0; y < img->h; y++) {
    const uint8_t *in = raw + y * (stride + 1) + 1;
    uint8_t *row = pix + y * stride, *up = y ? row - stride : NULL;
    for (size_t x = 0; x < stride; x++) {
      int a = x >= (size_t)channels ? row[x - channels] : 0, b = up ? up[x] : 0;
      int c = up && x >= (size_t)channels ? up[x - channels] : 0;
      int pred = 0;
      switch (in[-1]) {
      case 0: pred = 0; break;
      case 1: pred = a; break;
      case 2: pred = b; break;
      case 3: pred = (a + b) / 2; break;
      case 4: pred = paeth(a, b, c); break;
      default:
        free(raw);
        free(pix);
        return -1;
      }
      row[x] = (uint8_t)(in[x] + pred);
    }
  }
  free(raw);
  img->rgb = malloc((size_t)img->w * img->h * 3);
  for (size_t i = 0; i < (size_t)img->w * img->h; i++)
    memcpy(img->rgb + 3 * i, pix + channels * i, 3);
  free(pix);
  return 0;
}

static uint32_t pixel(const image *img, uint32_t x, uint32_t y) {
  const uint8_t *p = img->rgb + 3 * ((size_t)y * img->w + x);
  return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* ---- the test ---- */

static const char *experiment =
    "protocol = \"raft\"\n"
    "seed = 3\n"
    "[cluster]\n"
    "nodes = 3\n"
    "[workload]\n"
    "clients = 2\n"
    "duration_s = 0.6\n"
    "warmup_s = 0\n"
    "rate = 200\n"
    "[[fault]]\n"
    "at_s = 0.3\n"
    "kind = \"crash\"\n"
    "node = \"leader\"\n"
    "duration_s = 0.2\n";

static void test_chromium_renders_lanes_and_arrows(void **state) {
  (void)state;
  char cmd[2048], out[1 << 14];
  if (cli_run("command -v chromium", out, sizeof out) != 0)
    fail_msg(
        "chromium is not installed: this test opens the timeline page in headless Chromium. "
        "Install Debian's chromium package (scripts/install-deps.sh does, and .ci/run "
        "runs it)");

  snprintf(cmd, sizeof cmd, "%s/exp.toml", tmpdir_path());
  FILE *f = fopen(cmd, "w");
  assert_non_null(f);
  fputs(experiment, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s sim %s/exp.toml --html %s/run.html 2>&1", cli_bin(), tmpdir_path(),
           tmpdir_path());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  snprintf(cmd, sizeof cmd, "%s/run.html", tmpdir_path());
  char *page = read_file(cmd, NULL);
  assert_non_null(page);
  size_t lines = count(page, "<line "), rects = count(page, "<rect ");
  print_message("the page: %zu message lines, %zu lane bands\n", lines, rects);
  assert_true(lines >= 100);
  assert_true(rects >= 3);

  /* The DOM after Chromium loaded the page (and ran its script): the same lanes and arrows, each
   * lane named, every line inside the svg. */
  const char *flags =
      "--headless --no-sandbox --disable-gpu --hide-scrollbars "
      "--no-first-run --disable-dev-shm-usage";
  snprintf(cmd, sizeof cmd, "timeout 120 chromium %s --dump-dom file://%s/run.html 2>/dev/null",
           flags, tmpdir_path());
  static char dom[1 << 22];
  int rc = cli_run(cmd, dom, sizeof dom);
  assert_int_equal(rc, 0);
  assert_int_equal(count(dom, "<line "), lines);
  assert_int_equal(count(dom, "<rect "), rects);
  assert_non_null(strstr(dom, "<div>n0</div><div>n1</div><div>n2</div>"));
  const char *svg = strstr(dom, "<svg id=\"run\""), *svg_end = strstr(dom, "</svg>");
  assert_non_null(svg);
  assert_non_null(svg_end);
  assert_true(svg < strstr(dom, "<line ") && strstr(dom, "<line ") < svg_end);
  assert_non_null(strstr(dom, "function zoom("));

  /* The screenshot: decode it and look at the pixels. */
  snprintf(cmd, sizeof cmd,
           "timeout 120 chromium %s --screenshot=%s/shot.png --window-size=%d,%d "
           "file://%s/run.html 2>/dev/null",
           flags, tmpdir_path(), SHOT_W, SHOT_H, tmpdir_path());
  assert_int_equal(cli_run(cmd, out, sizeof out), 0);
  snprintf(cmd, sizeof cmd, "%s/shot.png", tmpdir_path());
  size_t png_len;
  uint8_t *png = (uint8_t *)read_file(cmd, &png_len);
  assert_non_null(png);
  image img = {0};
  assert_int_equal(png_decode(png, png_len, &img), 0);
  free(png);
  assert_int_equal(img.w, SHOT_W);
  assert_int_equal(img.h, SHOT_H);

  /* Lanes: rows where the follower band colour (#dfe7ef) runs across hundreds of pixels (the
   * legend's swatch of that colour is 14 pixels wide); their extent is the drawing. The leader's
   * band (#f6c343) covers a large area too. */
  uint32_t x0 = img.w, y0 = img.h, x1 = 0, y1 = 0;
  size_t follower = 0, leader = 0;
  for (uint32_t y = 0; y < img.h; y++) {
    uint32_t in_row = 0, first = img.w, last = 0;
    for (uint32_t x = 0; x < img.w; x++) {
      uint32_t c = pixel(&img, x, y);
      if (c == 0xf6c343) leader++;
      if (c != 0xdfe7ef) continue;
      in_row++;
      if (x < first) first = x;
      last = x;
    }
    if (in_row < 300) continue;
    follower += in_row;
    if (first < x0) x0 = first;
    if (last > x1) x1 = last;
    if (y < y0) y0 = y;
    y1 = y;
  }
  print_message(
      "screenshot %ux%u: %zu follower pixels in lanes, %zu leader pixels, drawing in "
      "x %u..%u, y %u..%u\n",
      img.w, img.h, follower, leader, x0, x1, y0, y1);
  assert_true(follower > 20000);
  assert_true(leader > 5000);
  assert_true(y1 > y0 + 2 * 40 && x1 > x0 + 600); /* three lanes of 40 px, a wide drawing */

  /* Arrows: inside the drawing, coloured pixels (not grey, not a band's own colour), each put
   * with the nearest of the message-type colours the page gives the first types; several types
   * must show. */
  static const uint32_t bands[] = {0xdfe7ef, 0xf2f2f2, 0xf6c343, 0xfbe3a1,
                                   0xf08a4b, 0xf7c4a4, 0x444444, 0xffffff};
  static const uint32_t types[] = {0x1f77b4, 0xd62728, 0x2ca02c, 0x9467bd,
                                   0xff7f0e, 0x17becf, 0x8c564b};
  size_t arrow = 0, per_type[7] = {0};
  for (uint32_t y = y0; y <= y1; y++)
    for (uint32_t x = x0; x <= x1; x++) {
      uint32_t c = pixel(&img, x, y);
      size_t b = 0;
      while (b < sizeof bands / sizeof bands[0] && bands[b] != c) b++;
      int r = (int)(c >> 16), g = (int)(c >> 8 & 255), bl = (int)(c & 255);
      int hi = r > g ? (r > bl ? r : bl) : (g > bl ? g : bl);
      int lo = r < g ? (r < bl ? r : bl) : (g < bl ? g : bl);
      if (b < sizeof bands / sizeof bands[0] || hi - lo < 40) continue;
      arrow++;
      for (size_t t = 0; t < 7; t++) {
        int dr = r - (int)(types[t] >> 16), dg = g - (int)(types[t] >> 8 & 255),
            db = bl - (int)(types[t] & 255);
        if (dr * dr + dg * dg + db * db < 40 * 40) per_type[t]++;
      }
    }
  int shown = 0;
  for (size_t t = 0; t < 7; t++) shown += per_type[t] >= 20;
  print_message("%zu arrow pixels; message types with at least 20 pixels of their colour: %d\n",
                arrow, shown);
  assert_true(arrow > 2000);
  assert_true(shown >= 3);
  free(img.rgb);
  free(page);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chromium_renders_lanes_and_arrows),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
