{
  "targets": [
    {
      "target_name": "twine_native",
      "variables": {
        "have_nft": "<!(test -f /usr/include/nftables/libnftables.h && echo 1 || echo 0)"
      },
      "sources": [
        "native/addon.cc",
        "native/conntrack.cc",
        "native/job.cc",
        "native/netlink_socket.cc",
        "native/notify.cc",
        "native/nsguard.cc",
        "native/pool.cc",
        "native/rtnl.cc",
        "native/sysctl.cc",
        "native/watch.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["have_nft==1", {
          "sources": ["native/nft.cc", "native/nft_reaper.cc"],
          "defines": ["TWINE_HAVE_NFT=1"],
          "libraries": ["-lnftables"]
        }]
      ]
    },
    {
      "target_name": "twine-runc",
      "type": "executable",
      "sources": ["native/runtime/wrapper.cc", "native/runtime/common.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-static", "-s"]
    },
    {
      "target_name": "twine-hook",
      "type": "executable",
      "sources": ["native/runtime/hook.cc", "native/runtime/common.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-static", "-s"]
    }
  ]
}
