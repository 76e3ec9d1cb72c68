/* Unit tests for the one intrusive list (src/common/queue.h): insertion at
 * both ends, removal (also twice), iteration that unlinks, moving a whole
 * list, and the empty / linked predicates. */
#include "common/queue.h"
#include "test.h"

typedef struct item {
  int value;
  tern__queue node;
} item;

/* Writes the values of list h, head to tail, into out (at most max);
 * returns how many nodes the list has. Walks both directions so that a
 * broken prev link shows as well as a broken next link. */
static int values(tern__queue *h, int *out, int max) {
  tern__queue *q;
  int n = 0, back = 0;
  for (q = h->next; q != h; q = q->next) {
    if (n < max)
      out[n] = tern__queue_data(q, item, node)->value;
    n++;
  }
  for (q = h->prev; q != h; q = q->prev)
    back++;
  return back == n ? n : -1;
}

#define CHECK_LIST(h, ...)                                                     \
  do {                                                                         \
    const int want_[] = {__VA_ARGS__};                                         \
    int got_[16], n_, i_;                                                      \
    n_ = values((h), got_, 16);                                                \
    CHECK_EQ_INT(n_, (int)(sizeof(want_) / sizeof(want_[0])));                 \
    for (i_ = 0; i_ < n_ && i_ < (int)(sizeof(want_) / sizeof(want_[0]));      \
         i_++)                                                                 \
      CHECK_EQ_INT(got_[i_], want_[i_]);                                       \
  } while (0)

static void make(item *it, int n) {
  int i;
  for (i = 0; i < n; i++) {
    it[i].value = i + 1;
    tern__queue_init(&it[i].node);
  }
}

static void test_queue_init_is_empty_and_unlinked(void) {
  tern__queue h;
  item a;
  make(&a, 1);
  tern__queue_init(&h);
  SAY("a new head is empty and has no first node");
  CHECK(tern__queue_empty(&h));
  CHECK(tern__queue_head(&h) == NULL);
  CHECK_EQ_INT(values(&h, NULL, 0), 0);
  SAY("an initialised node is not linked");
  CHECK(!tern__queue_linked(&a.node));
}

static void test_queue_insert_tail_and_head_keep_order(void) {
  tern__queue h;
  item it[4];
  make(it, 4);
  tern__queue_init(&h);
  SAY("tail inserts 1, 2 then head inserts 3, 4 give 4 3 1 2");
  tern__queue_insert_tail(&h, &it[0].node);
  tern__queue_insert_tail(&h, &it[1].node);
  tern__queue_insert_head(&h, &it[2].node);
  tern__queue_insert_head(&h, &it[3].node);
  CHECK_LIST(&h, 4, 3, 1, 2);
  CHECK(!tern__queue_empty(&h));
  CHECK(tern__queue_head(&h) == &it[3].node);
  CHECK(tern__queue_linked(&it[0].node));
  SAY("tern__queue_data finds the object around its node");
  CHECK(tern__queue_data(tern__queue_head(&h), item, node) == &it[3]);
}

static void test_queue_remove_unlinks_and_is_idempotent(void) {
  tern__queue h;
  item it[3];
  make(it, 3);
  tern__queue_init(&h);
  tern__queue_insert_tail(&h, &it[0].node);
  tern__queue_insert_tail(&h, &it[1].node);
  tern__queue_insert_tail(&h, &it[2].node);
  SAY("removing the middle, then the head, then the last");
  tern__queue_remove(&it[1].node);
  CHECK_LIST(&h, 1, 3);
  CHECK(!tern__queue_linked(&it[1].node));
  tern__queue_remove(&it[0].node);
  CHECK_LIST(&h, 3);
  tern__queue_remove(&it[2].node);
  CHECK(tern__queue_empty(&h));
  SAY("removing again, or a node never inserted, changes nothing");
  tern__queue_insert_tail(&h, &it[0].node);
  tern__queue_remove(&it[1].node);
  tern__queue_remove(&it[2].node);
  CHECK_LIST(&h, 1);
  SAY("a removed node can be inserted again");
  tern__queue_insert_head(&h, &it[1].node);
  CHECK_LIST(&h, 2, 1);
}

static void test_queue_foreach_safe_allows_removal(void) {
  tern__queue h, *q, *n;
  item it[6];
  int seen = 0;
  make(it, 6);
  tern__queue_init(&h);
  for (seen = 0; seen < 6; seen++)
    tern__queue_insert_tail(&h, &it[seen].node);
  SAY("removing every even value while iterating visits all six once");
  seen = 0;
  tern__queue_foreach_safe(q, n, &h) {
    item *x = tern__queue_data(q, item, node);
    seen++;
    if (x->value % 2 == 0)
      tern__queue_remove(q);
  }
  CHECK_EQ_INT(seen, 6);
  CHECK_LIST(&h, 1, 3, 5);
  SAY("removing every node while iterating empties the list");
  seen = 0;
  tern__queue_foreach_safe(q, n, &h) {
    seen++;
    tern__queue_remove(q);
  }
  CHECK_EQ_INT(seen, 3);
  CHECK(tern__queue_empty(&h));
  SAY("iterating an empty list runs the body zero times");
  seen = 0;
  tern__queue_foreach_safe(q, n, &h) seen++;
  CHECK_EQ_INT(seen, 0);
}

static void test_queue_move_appends_and_empties_source(void) {
  tern__queue a, b;
  item it[5];
  make(it, 5);
  tern__queue_init(&a);
  tern__queue_init(&b);
  tern__queue_insert_tail(&a, &it[0].node);
  tern__queue_insert_tail(&a, &it[1].node);
  tern__queue_insert_tail(&b, &it[2].node);
  SAY("moving [1 2] onto [3] gives [3 1 2] and an empty source");
  tern__queue_move(&a, &b);
  CHECK(tern__queue_empty(&a));
  CHECK_LIST(&b, 3, 1, 2);
  SAY("moving an empty list changes nothing");
  tern__queue_move(&a, &b);
  CHECK(tern__queue_empty(&a));
  CHECK_LIST(&b, 3, 1, 2);
  SAY("moving into an empty list takes every node over");
  tern__queue_move(&b, &a);
  CHECK(tern__queue_empty(&b));
  CHECK_LIST(&a, 3, 1, 2);
  SAY("the moved list still links both ways: insert and remove work");
  tern__queue_insert_tail(&a, &it[3].node);
  tern__queue_insert_head(&a, &it[4].node);
  tern__queue_remove(&it[0].node);
  CHECK_LIST(&a, 5, 3, 2, 4);
}

int main(void) {
  RUN_TEST(test_queue_init_is_empty_and_unlinked);
  RUN_TEST(test_queue_insert_tail_and_head_keep_order);
  RUN_TEST(test_queue_remove_unlinks_and_is_idempotent);
  RUN_TEST(test_queue_foreach_safe_allows_removal);
  RUN_TEST(test_queue_move_appends_and_empties_source);
  return TEST_SUMMARY("queue");
}
