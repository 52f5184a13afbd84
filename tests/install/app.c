#include <fastpool/fastpool.h>
#include <stdio.h>
static fp_status_t twice(fp_task_t *t, const fp_cbuf_t *a, size_t n, fp_buf_t *o)
{ (void)t; (void)n; *(int *)o->data = 2 * *(const int *)a[0].data; return FP_OK; }
FP_TASK_REGISTER(twice)
int main(void) {
  fp_context_t *c; fp_pool_t *p; int in[100], out[100];
  for (int i = 0; i < 100; i++) in[i] = i;
  if (fp_context_create(NULL, &c) || fp_pool_create(c, NULL, &p, NULL)) return 1;
  fp_status_t st = fp_map(p, "twice", in, sizeof(int), 100, out, sizeof(int), NULL, NULL);
  printf("%s out[99]=%d\n", fp_status_string(st), out[99]);
  fp_pool_destroy(p); fp_context_destroy(c); return out[99] != 198;
}
