print("offheap-engine")
