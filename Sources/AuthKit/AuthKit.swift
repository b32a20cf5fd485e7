// AuthKit
