{
  "variables": {
    "twine_bench%": 1
  },
  "targets": [
    {
      "target_name": "twine_core",
      "type": "static_library",
      "sources": [
        "native/args.cc",
        "native/conntrack.cc",
        "native/job.cc",
        "native/netlink_socket.cc",
        "native/nft_read.cc",
        "native/nsguard.cc",
        "native/rtnl.cc",
        "native/sysctl.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "direct_dependent_settings": {
        "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
        "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "_GNU_SOURCE"],
        "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
        "cflags_cc!": ["-fno-exceptions"]
      },
      "link_settings": {
        "libraries": ["-lpthread"]
      }
    },
    {
      "target_name": "twine_native",
      "dependencies": ["twine_core"],
      "variables": {
        "have_nft": "<!(test -f /usr/include/nftables/libnftables.h && echo 1 || echo 0)"
      },
      "sources": [
        "native/addon.cc",
        "native/batch_job.cc",
        "native/notify.cc",
        "native/pid_check.cc",
        "native/pool.cc",
        "native/process.cc",
        "native/root_file.cc",
        "native/rtnl_jobs.cc",
        "native/sysctl_jobs.cc",
        "native/values.cc"
      ],
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
      "sources": ["native/runtime/wrapper.cc", "native/runtime/gate.cc", "native/runtime/common.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-static", "-s"]
    }
  ],
  "conditions": [
    ["twine_bench!=0 and twine_bench!='0'", {
      "targets": [
        {
          "target_name": "twine_bench",
          "dependencies": ["twine_core"],
          "sources": ["native/bench/addon.cc", "native/bench/watch.cc"]
        }
      ]
    }]
  ]
}
