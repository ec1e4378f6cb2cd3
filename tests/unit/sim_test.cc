// The simulated hypervisor keeps Xen's rules where netback can observe them: XenStore
// permissions, watches and transactions; grant-copy statuses; event-channel masking.
#include <gtest/gtest.h>

#include "xen/sim/hypervisor.h"
#include "xen/sim/toolstack.h"

namespace xfw::xen::sim {
namespace {

TEST(SimXenStore, PermissionsFollowOwnerDefaultAndAcl) {
  SimHypervisor hv;
  SimToolstack ts(hv);
  ts.create_domain(DomId{5}, "a");
  ts.create_domain(DomId{6}, "b");
  SimXenStore a(hv, DomId{5}), b(hv, DomId{6});
  EXPECT_TRUE(a.write(kNoTxn, "/local/domain/5/device/x", "1"));
  EXPECT_EQ(a.read(kNoTxn, "/local/domain/5/name"), "a");
  EXPECT_FALSE(a.write(kNoTxn, "/local/domain/5/name", "evil"));  // read-only for the guest
  EXPECT_EQ(b.read(kNoTxn, "/local/domain/5/name"), std::nullopt);  // other guests see nothing
  EXPECT_FALSE(b.write(kNoTxn, "/local/domain/5/device/y", "1"));
  const XsPerm share[] = {{DomId{5}, XsPermKind::none}, {DomId{6}, XsPermKind::read}};
  EXPECT_TRUE(a.set_permissions(kNoTxn, "/local/domain/5/device/x", share));
  EXPECT_EQ(b.read(kNoTxn, "/local/domain/5/device/x"), "1");
  EXPECT_FALSE(b.set_permissions(kNoTxn, "/local/domain/5/device/x", share));  // not the owner
  EXPECT_FALSE(a.write(kNoTxn, "/local/domain/5/device/bad//path", "1"));
  EXPECT_FALSE(a.write(kNoTxn, "relative", "1"));
}

TEST(SimXenStore, WatchesFireOnRegistrationChangesAndRemoval) {
  SimHypervisor hv;
  SimXenStore dom0(hv, DomId{0});
  ASSERT_TRUE(dom0.watch("/a/b", "t"));
  auto e = dom0.next_watch_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "/a/b");
  EXPECT_FALSE(dom0.next_watch_event());
  ASSERT_TRUE(dom0.write(kNoTxn, "/a/b/c/d", "x"));  // creates /a, /a/b, /a/b/c too
  int n = 0;
  while (dom0.next_watch_event()) ++n;
  EXPECT_EQ(n, 3);  // /a/b, /a/b/c, /a/b/c/d
  ASSERT_TRUE(dom0.write(kNoTxn, "/a/other", "x"));
  EXPECT_FALSE(dom0.next_watch_event());
  ASSERT_TRUE(dom0.rm(kNoTxn, "/a"));  // removal of an ancestor fires watches below it
  e = dom0.next_watch_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(dom0.read(kNoTxn, "/a/b/c/d"), std::nullopt);
}

TEST(SimXenStore, TransactionsAreAtomicAndConflictsRetry) {
  SimHypervisor hv;
  SimXenStore a(hv, DomId{0}), b(hv, DomId{0});
  ASSERT_TRUE(a.watch("/t", "w"));
  while (a.next_watch_event()) {}
  auto t = a.transaction_start();
  ASSERT_TRUE(t);
  ASSERT_TRUE(a.write(*t, "/t/x", "1"));
  EXPECT_EQ(b.read(kNoTxn, "/t/x"), std::nullopt);  // invisible before commit
  EXPECT_FALSE(a.next_watch_event());
  EXPECT_EQ(a.transaction_end(*t, true), XsTxnEnd::committed);
  EXPECT_EQ(b.read(kNoTxn, "/t/x"), "1");
  EXPECT_TRUE(a.next_watch_event());
  t = a.transaction_start();
  ASSERT_TRUE(a.write(*t, "/t/y", "1"));
  ASSERT_TRUE(b.write(kNoTxn, "/t/z", "1"));  // a concurrent change
  EXPECT_EQ(a.transaction_end(*t, true), XsTxnEnd::retry);
  EXPECT_EQ(b.read(kNoTxn, "/t/y"), std::nullopt);
}

TEST(SimGrants, CopyChecksLikeXen) {
  SimHypervisor hv;
  Page page;
  const GrantRef ro = hv.grant_access(DomId{5}, DomId{1}, &page, true);
  const GrantRef rw = hv.grant_access(DomId{5}, DomId{1}, &page, false);
  SimGrantTable be(hv, DomId{1}), other(hv, DomId{2});
  std::byte buf[64]{};
  using D = GrantCopy::Dir;
  GrantCopy ops[] = {
      {D::from_guest, DomId{5}, ro, 0, 64, buf, {}},
      {D::to_guest, DomId{5}, ro, 0, 64, buf, {}},       // read-only grant
      {D::from_guest, DomId{5}, ro, 4090, 7, buf, {}},   // crosses the page
      {D::from_guest, DomId{5}, GrantRef{12345}, 0, 1, buf, {}},
      {D::from_guest, DomId{9}, ro, 0, 1, buf, {}},      // no such domain
      {D::to_guest, DomId{5}, rw, 0, 64, buf, {}},
  };
  ASSERT_TRUE(be.copy(ops));
  EXPECT_EQ(ops[0].status, GntStatus::okay);
  EXPECT_EQ(ops[1].status, GntStatus::permission_denied);
  EXPECT_EQ(ops[2].status, GntStatus::bad_copy_arg);
  EXPECT_EQ(ops[3].status, GntStatus::bad_gntref);
  EXPECT_EQ(ops[4].status, GntStatus::bad_domain);
  EXPECT_EQ(ops[5].status, GntStatus::okay);
  GrantCopy wrong{D::from_guest, DomId{5}, ro, 0, 1, buf, {}};
  ASSERT_TRUE(other.copy(std::span(&wrong, 1)));  // granted to domain 1, not 2
  EXPECT_EQ(wrong.status, GntStatus::permission_denied);
  EXPECT_EQ(other.map(DomId{5}, rw), nullptr);
  auto m = be.map(DomId{5}, rw);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(hv.mapped_grants_of(DomId{5}), 1u);
  m.reset();
  EXPECT_EQ(hv.mapped_grants_of(DomId{5}), 0u);
}

TEST(SimEvtchn, BindNotifyMaskUnmask) {
  SimHypervisor hv;
  SimEventChannels guest(hv, DomId{5}), be(hv, DomId{1});
  const auto gp = guest.alloc_unbound(DomId{1});
  ASSERT_TRUE(gp);
  EXPECT_FALSE(be.bind_interdomain(DomId{5}, EvtchnPort{gp->value() + 1}));
  const auto bp = be.bind_interdomain(DomId{5}, *gp);
  ASSERT_TRUE(bp);
  EXPECT_FALSE(be.bind_interdomain(DomId{5}, *gp));  // already bound
  guest.notify(*gp);
  guest.notify(*gp);
  EXPECT_EQ(be.pending(), bp);
  EXPECT_EQ(be.pending(), std::nullopt);  // masked until unmask; second kick is pending
  be.unmask(*bp);
  EXPECT_EQ(be.pending(), bp);
  be.unmask(*bp);
  EXPECT_EQ(be.pending(), std::nullopt);
  hv.destroy_domain(DomId{5});
  EXPECT_FALSE(be.notify(*bp));  // the other end is gone
}

}  // namespace
}  // namespace xfw::xen::sim
