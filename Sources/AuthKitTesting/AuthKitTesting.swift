// AuthKitTesting
